"""The InfluxDB sensor store, spoken through the v1-compatible HTTP API.

``POST /write`` (line protocol) and ``/query`` (InfluxQL) are served by InfluxDB 1.x, by 2.x
(v1 compatibility, token auth) and by 3.x, so one client covers every deployment; the only
server this project can install (Debian's 1.6.7) has no ``/api/v2`` at all.

Schema::

    bolus,animal_id=<int>    [temp_c=<f>,][activity=<f>,][ph=<f>,]interval_s=<int>i,received_at=<int>i  <epoch s>
    climate,sensor_id=<int>  air_temp_c=<f>,rh_pct=<f>,received_at=<int>i          <epoch s>
    bolus_arrivals           bucket=<bucket start epoch s>i   <arrival minute + bucket index, ns>
    bolus_writes             bucket=<..>i,shard=<animal_id % 100>i  <writer's second + offset, ns>

Decisions and the traps they avoid (see STACK.md, InfluxDB section):

* Line protocol comes from influxdb-client's ``DataframeSerializer`` (escaping is its job, not
  ours). It was 4x faster than building ``Point`` objects (about 5 vs 33 µs a row) and is
  fastest when no column holds NaN, so readings with and without pH are serialised as two
  frames. It still costs about 4 µs a line in pure Python, as much CPU as influxd spends
  storing it: writes of 100,000+ rows are serialised by worker processes (``_lp_workers``)
  while this process posts finished bodies, two requests in flight; smaller writes serialise
  in-process, overlapping one post.
* ``precision=s`` always: the default is nanoseconds and a wrong precision silently writes
  1970 timestamps. ``received_at`` is an integer field (``i`` suffix), fixed at first write;
  a type conflict returns 400 while other points may be stored: raised, never ignored.
* Bodies of 50,000 lines (about 4 MB, below the 25 MB limit; 1.6.7 took about 177k lines/s
  in such bodies vs 130k/s in 10,000-line ones); a 413 from a server with a smaller limit
  halves the body at a line break and retries.
* Same tags + timestamp overwrite the *fields given*: this is what makes writes idempotent on
  (animal_id, ts). A rewrite without pH keeps the stored pH (the SQL store mirrors this).
* Every query has both time bounds (an open range makes ``GROUP BY time()`` fill up to now()),
  ids are validated as integers before they reach a query, and every literal/identifier is
  escaped anyway. Queries are chunked JSON: 1.6.7's CSV output silently returns an empty body
  on query errors, and query errors arrive as HTTP 200 with ``"error"`` inside the result —
  both are turned into :class:`SensorStoreError`. Measured with 10,000 animals x 26 h
  (1.5 M points): influxd spends 8-12 s of CPU on that raw query whatever the format (CSV took
  10.5 s vs JSON 11.4 s), the field list, time or id-regex shards on two threads, or TSM
  compaction; parsing is the smaller part (JSON 5.2 s, pyarrow CSV 3.6 s, under load). The
  serving/scoring window is therefore read through a local per-bucket cache when the URL
  gives ``read_cache=DIR`` (see ``read_cache``), kept exact by ``bolus_writes`` markers.
* Connection errors and 502/503/504 are retried a bounded number of times with exponential
  backoff (writes are idempotent, reads have no side effects); everything else fails fast.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import requests

from smx_assets.domain.sensor_store import _frames as F
from smx_assets.domain.sensor_store import _lp_workers
from smx_assets.domain.sensor_store.base import (
    SensorStoreError,
    empty_bolus_frame,
    empty_climate_frame,
)
from smx_assets.domain.sensor_store.line_protocol import line_protocol
from smx_assets.domain.sensor_store.read_cache import BucketReadCache

log = logging.getLogger(__name__)

BOLUS = "bolus"
CLIMATE = "climate"
ARRIVALS = "bolus_arrivals"  # arrival markers for buckets_received_since (see there)
ARRIVALS_UNTIL_S = 7_258_118_400  # 2200-01-01: the upper bound of the arrival-marker scan
WRITES = "bolus_writes"  # write markers (writer's clock) for the read cache (see read_cache)
BUCKET_S = 600
BOLUS_FIELDS = ("temp_c", "activity", "ph", "interval_s")  # interval_s absent (old points) = 600
N_SHARDS = 100  # write markers and the read cache track animals by animal_id % 100 (last two digits)
WRITE_CHUNK = 50_000  # lines per POST (~4 MB): 1.6.7 took 177k lines/s vs 130k/s in 10k bodies
POST_CONCURRENCY = 2  # two requests in flight: influxd overlaps one fsync with parsing the next
PARALLEL_MIN_ROWS = 100_000  # writes this big are serialised in worker processes (_lp_workers)
QUERY_CHUNK = 10_000
IDS_PER_QUERY = 200  # longer OR-lists slow InfluxQL's planner down more than they save
UNGROUPED_MAX_S = 3 * 3600  # raw reads up to this long read one series (see _raw_select)
READ_ALL_ABOVE_IDS = 2_000  # past this, read every series and filter client-side
FETCH_SPLIT = 2  # a short all-animal fetch goes as this many requests at once (_read_bolus_shards)
_RETRY_STATUS = {502, 503, 504}


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes with backslash and quote escaped."""
    return '"' + str(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_literal(value: str) -> str:
    """An InfluxQL string literal in single quotes with backslash and quote escaped."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _time_bounds(s: int, e: int) -> str:
    return f"time >= {int(s)}s AND time < {int(e)}s"


def _id_filter(tag: str, ids: Sequence[int]) -> str:
    return "(" + " OR ".join(f"{quote_ident(tag)} = {quote_literal(str(int(i)))}" for i in ids) + ")"


class InfluxSensorStore:
    """Sensor store on one InfluxDB database via ``/write`` and ``/query``."""

    def __init__(
        self,
        base_url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        verify_ssl: bool = True,
        timeout_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 0.25,
        url_for_display: str | None = None,
        read_cache_dir: str | None = None,
        serialize_workers: int = _lp_workers.DEFAULT_WORKERS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.serialize_workers = serialize_workers  # SMX_INFLUX_SERIALIZE_WORKERS, via the settings
        self.database = database
        self.timeout_s = timeout_s
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.url_for_display = url_for_display or f"influxdb {self.base_url}/{database}"
        # Whole-bucket reads of all animals (serving, scoring) go through a local per-bucket
        # cache invalidated by write markers (see read_cache): the 10-minute run then fetches
        # only new and rewritten buckets instead of the whole 26 h window.
        self.read_cache = (
            BucketReadCache(read_cache_dir, f"{self.base_url}/{database}", len(BOLUS_FIELDS))
            if read_cache_dir else None
        )
        self.session = requests.Session()
        self.session.verify = verify_ssl
        if token:
            # InfluxDB 2.x/3.x v1 compatibility; never put secrets in query strings (access logs).
            self.session.headers["Authorization"] = f"Token {token}"
        elif username is not None:
            self.session.auth = (username, password or "")

    def __repr__(self) -> str:
        return f"InfluxSensorStore({self.url_for_display!r})"

    # ------------------------------------------------------------------- HTTP

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One HTTP call with bounded retries on transport errors; auth errors made explicit."""
        url = f"{self.base_url}{path}"
        attempt = 0
        while True:
            try:
                resp = self.session.request(method, url, timeout=self.timeout_s, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt >= self.retries:
                    raise SensorStoreError(
                        f"{self.url_for_display}: cannot reach InfluxDB after {attempt + 1} "
                        f"attempts: {type(exc).__name__}: {exc}"
                    ) from exc
            else:
                if resp.status_code not in _RETRY_STATUS or attempt >= self.retries:
                    break
            delay = min(self.backoff_s * 2**attempt, 5.0)
            log.warning("%s %s failed (attempt %d), retrying in %.2f s", method, path, attempt + 1, delay)
            time.sleep(delay)
            attempt += 1
        if resp.status_code in (401, 403):
            raise SensorStoreError(
                f"{self.url_for_display}: InfluxDB refused the credentials "
                f"(HTTP {resp.status_code}: {_error_text(resp)})"
            )
        return resp

    def _query(self, q: str, *, write: bool = False) -> Iterator[dict[str, Any]]:
        """Run InfluxQL; yield every result object, raising on any error inside HTTP 200."""
        params = {"db": self.database, "epoch": "s"}
        if not write:
            params.update(chunked="true", chunk_size=str(QUERY_CHUNK))
        resp = self._request("POST", "/query", params=params, data={"q": q})
        if resp.status_code != 200:
            raise SensorStoreError(
                f"{self.url_for_display}: query failed (HTTP {resp.status_code}: "
                f"{_error_text(resp)}): {q[:200]}"
            )
        for line in resp.text.splitlines():
            if not line.strip():
                continue
            try:
                body = json.loads(line)
            except ValueError as exc:
                raise SensorStoreError(f"{self.url_for_display}: unreadable query response: {line[:200]}") from exc
            if "error" in body:
                raise SensorStoreError(f"{self.url_for_display}: query failed: {body['error']}")
            for result in body.get("results", []):
                if "error" in result:
                    raise SensorStoreError(
                        f"{self.url_for_display}: query failed: {result['error']} (query: {q[:200]})"
                    )
                yield result

    def _post_lines(self, lines: list[str], depth: int = 0, precision: str = "s") -> None:
        self._post_body("\n".join(lines).encode(), len(lines), precision, depth)

    def _post_body(self, body: bytes, n_lines: int, precision: str = "s", depth: int = 0) -> None:
        """POST one body of ``n_lines`` lines; a 413 splits it at a line break and retries."""
        resp = self._request(
            "POST", "/write",
            params={"db": self.database, "precision": precision},
            data=body,
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        if resp.status_code == 204:
            return
        if resp.status_code == 413 and n_lines > 1 and depth < 12:
            log.info("InfluxDB body limit hit at %d lines (%d bytes); halving", n_lines, len(body))
            cut = body.rfind(b"\n", 0, len(body) // 2 + 1)
            if cut <= 0:
                cut = body.find(b"\n", len(body) // 2)
            left, right = body[:cut], body[cut + 1:]
            n_left = left.count(b"\n") + 1
            self._post_body(left, n_left, precision, depth + 1)
            self._post_body(right, n_lines - n_left, precision, depth + 1)
            return
        error = _error_text(resp)
        if resp.status_code == 404:
            raise SensorStoreError(
                f"{self.url_for_display}: {error} (call ensure_schema() to create the database)"
            )
        if resp.status_code == 400 and "partial write" in error:
            raise SensorStoreError(
                f"{self.url_for_display}: partial write, some of {n_lines} points were NOT "
                f"stored: {error}"
            )
        raise SensorStoreError(
            f"{self.url_for_display}: write of {n_lines} points failed "
            f"(HTTP {resp.status_code}): {error}"
        )

    def _write_frames(self, frames: list[pd.DataFrame], measurement: str, tag: str | None,
                      precision: str = "s") -> None:
        """Serialise with influxdb-client and post bodies of ``WRITE_CHUNK`` lines.

        Big writes are serialised by worker processes (see ``_lp_workers``) while this
        thread posts finished bodies; small ones are serialised here, overlapping one post.
        Either way every body is posted before this returns, and a frame never holds a key
        twice (``prepare_*`` reduced it), so the order of bodies does not matter.
        """
        pieces = [frame.iloc[lo:lo + WRITE_CHUNK] for frame in frames if not frame.empty
                  for lo in range(0, len(frame), WRITE_CHUNK)]
        if not pieces:
            return
        big = len(pieces) > 1 and sum(map(len, pieces)) >= PARALLEL_MIN_ROWS
        pool = _lp_workers.acquire_pool(self.serialize_workers) if big else None
        if pool is not None:
            try:
                bodies = pool.serialize(pieces, (measurement, tag, precision))
                try:
                    self._post_all(bodies, precision)
                finally:
                    bodies.close()
                return
            except _lp_workers.WorkerError as exc:  # a worker died (OOM killer?): redo it here
                log.warning("InfluxDB serialiser processes failed (%s); serialising in-process", exc)
            finally:
                _lp_workers.release_pool(pool)
        self._write_pieces_local(pieces, measurement, tag, precision)

    def _post_all(self, bodies: Iterator[tuple[bytes, int]], precision: str) -> None:
        """Post every body, ``POST_CONCURRENCY`` at a time (influxd parses requests in parallel)."""
        if POST_CONCURRENCY <= 1:
            for body, n_lines in bodies:
                self._post_body(body, n_lines, precision)
            return
        pending: deque[Future[None]] = deque()
        with ThreadPoolExecutor(max_workers=POST_CONCURRENCY, thread_name_prefix="influx-post") as posters:
            try:
                for body, n_lines in bodies:
                    pending.append(posters.submit(self._post_body, body, n_lines, precision))
                    while len(pending) >= POST_CONCURRENCY:
                        pending.popleft().result()
                while pending:
                    pending.popleft().result()
            finally:
                for fut in pending:
                    fut.cancel()

    def _write_pieces_local(self, pieces: list[pd.DataFrame], measurement: str, tag: str | None,
                            precision: str) -> None:
        pending: list[Future[None]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-write") as pool:
            try:
                for piece in pieces:
                    body, n_lines = line_protocol(piece, measurement, tag, precision)
                    pending.append(pool.submit(self._post_body, body, n_lines, precision))
                    if len(pending) >= 2:  # bounded memory: at most two bodies in flight
                        pending.pop(0).result()
                for fut in pending:
                    fut.result()
            finally:
                for fut in pending:
                    fut.cancel()

    # ------------------------------------------------------------------ schema

    def ensure_schema(self) -> None:
        """``CREATE DATABASE`` (idempotent on 1.x). 2.x/3.x map databases to buckets instead:
        there the statement is refused and the bucket must already exist, so that refusal is
        only logged and the first write reports a missing database clearly."""
        try:
            list(self._query(f"CREATE DATABASE {quote_ident(self.database)}", write=True))
        except SensorStoreError as exc:
            if "refused the credentials" in str(exc) or "cannot reach" in str(exc):
                raise
            log.warning("CREATE DATABASE not accepted (%s); assuming the bucket exists", exc)

    def retention_policies(self) -> list[dict[str, Any]]:
        """``SHOW RETENTION POLICIES`` of the database: name, duration, shardGroupDuration, default."""
        out = []
        for result in self._query(f"SHOW RETENTION POLICIES ON {quote_ident(self.database)}"):
            for series in result.get("series", []):
                for values in series["values"]:
                    out.append(dict(zip(series["columns"], values)))
        return out

    def enforce_retention(self, keep_days: int, cutoff: pd.Timestamp) -> dict[str, Any]:
        """Readings retention the InfluxDB way: the database's default retention policy gets
        ``DURATION <keep_days>d`` and one-day shard groups, and InfluxDB itself drops every shard
        group that lies wholly past the duration (at its ``[retention] check-interval``).

        Idempotent: ``smx migrate`` sets it at start-up and the daily retention asset re-applies
        it (a changed setting takes effect at the next run). Writes of points older than the
        duration are then refused by InfluxDB ("points beyond retention policy"): importing
        older history needs a longer ``SMX_RETENTION_READINGS_DAYS`` first.
        """
        policies = self.retention_policies()
        default = next((p for p in policies if p.get("default")), None)
        name = default["name"] if default else "autogen"
        verb = "ALTER" if default else "CREATE"
        list(self._query(f"{verb} RETENTION POLICY {quote_ident(name)} ON {quote_ident(self.database)} "
                         f"DURATION {int(keep_days)}d " + ("REPLICATION 1 " if verb == "CREATE" else "")
                         + "SHARD DURATION 1d DEFAULT", write=True))
        now = next(p for p in self.retention_policies() if p["name"] == name)
        expired = 0
        cut_s = F.epoch_s(cutoff)
        for result in self._query("SHOW SHARDS"):
            for series in result.get("series", []):
                if series.get("name") != self.database:
                    continue
                cols = series["columns"]
                for values in series.get("values", []):  # a database without shards yet
                    row = dict(zip(cols, values))
                    if row.get("retention_policy") == name and F.epoch_s(row["end_time"]) <= cut_s:
                        expired += 1
        return {"kind": "influxdb", "retention_policy": name, "duration": now["duration"],
                "shard_group_duration": now["shardGroupDuration"],
                "shards_past_duration": expired}  # InfluxDB drops these at its next retention check

    # ------------------------------------------------------------------ writes

    def write_bolus(self, frame: pd.DataFrame) -> int:
        if len(frame) == 0:
            return 0
        prepared = F.prepare_bolus(frame)
        index = pd.DatetimeIndex(pd.to_datetime(prepared["ts"].to_numpy() * 1_000_000_000, utc=True))
        data = prepared.drop(columns="ts").set_index(index)
        # One frame per pattern of missing signals (no pH on most boluses, no temperature on a
        # collar): the serializer is fastest without NaN, and a missing field must stay absent
        # (InfluxDB keeps a stored field that a rewrite does not give, as the SQL store does).
        signals = ["temp_c", "activity", "ph"]
        present = data[signals].notna().to_numpy()
        pattern = present @ np.array([1, 2, 4])
        frames = []
        for code in np.unique(pattern):
            absent = [c for i, c in enumerate(signals) if not (int(code) >> i) & 1]
            frames.append(data[pattern == code].drop(columns=absent))
        # Arrival markers first: if the process dies between the two writes, a marker without
        # readings is only a false candidate (the exact check drops it), never a missed bucket.
        # Write markers (keyed by this writer's clock, not by received_at, which may lie in the
        # past) go before *and* after the readings: the read cache trusts a cached bucket only
        # while no marker for it is newer than its fetch (see read_cache).
        touched = np.unique(np.column_stack([prepared["ts"].to_numpy() // BUCKET_S * BUCKET_S,
                                             prepared["animal_id"].to_numpy() % N_SHARDS]), axis=0)
        arrivals, n_arrivals = line_protocol(_arrival_markers(prepared), ARRIVALS, None, "ns")
        before, n_before = line_protocol(_write_markers(touched), WRITES, None, "ns")
        self._post_body(arrivals + b"\n" + before, n_arrivals + n_before, "ns")
        self._write_frames(frames, BOLUS, "animal_id")
        self._write_frames([_write_markers(touched)], WRITES, None, precision="ns")
        return len(prepared)

    def write_climate(self, frame: pd.DataFrame) -> int:
        if len(frame) == 0:
            return 0
        prepared = F.prepare_climate(frame)
        index = pd.DatetimeIndex(pd.to_datetime(prepared["ts"].to_numpy() * 1_000_000_000, utc=True))
        data = prepared.drop(columns="ts").set_index(index)
        data["received_at"] = F.epoch_s(pd.Timestamp.now(tz="UTC"))
        self._write_frames([data], CLIMATE, "sensor_id")
        return len(prepared)

    # ------------------------------------------------------------------- reads

    def _read_series(self, measurement: str, tag: str, fields: Sequence[str], start: object,
                     end: object, ids: Sequence[int] | None, known_at: object = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, values[time, *fields]) for a bounded range, grouped by the id tag."""
        s, e = F.check_range(start, end)
        return self._read_series_s(measurement, tag, fields, s, e, F.check_ids(ids, tag), known_at)

    def _read_series_s(self, measurement: str, tag: str, fields: Sequence[str], s: int, e: int,
                       checked: list[int] | None, known_at: object = None) -> tuple[np.ndarray, np.ndarray]:
        if e <= s or checked == []:
            return np.empty(0, dtype="int64"), np.empty((0, 1 + len(fields)))
        # readings as known at a time: those that had arrived by then (an integer bound, no text)
        known = "" if known_at is None else f'"received_at" <= {int(F.epoch_s(known_at))}'  # type: ignore[arg-type]
        if checked is None or len(checked) > READ_ALL_ABOVE_IDS:
            queries = [_raw_select(measurement, tag, fields, s, e, known)]
        else:
            queries = [
                _raw_select(measurement, tag, fields, s, e,
                            " AND ".join(c for c in (_id_filter(tag, checked[lo:lo + IDS_PER_QUERY]), known) if c))
                for lo in range(0, len(checked), IDS_PER_QUERY)
            ]
        parsed = [self._parse_series(self._query(q), fields, tag) for q in queries]
        id_arr = np.concatenate([p[0] for p in parsed])
        val_arr = np.concatenate([p[1] for p in parsed])
        if checked is not None and len(checked) > READ_ALL_ABOVE_IDS:
            keep = np.isin(id_arr, np.asarray(checked, dtype="int64"))
            id_arr, val_arr = id_arr[keep], val_arr[keep]
        return id_arr, val_arr

    @staticmethod
    def _parse_series(results: Iterator[dict[str, Any]], fields: Sequence[str], tag: str
                      ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, values[time, *fields]) of every series in the results: the id is the ``tag``
        column (:func:`_raw_select`) or, for a series grouped by it, the series' tag."""
        id_parts: list[np.ndarray] = []
        value_parts: list[np.ndarray] = []
        for result in results:
            for series in result.get("series", []):
                values = np.array(series["values"], dtype="float64")  # null -> NaN, "17" -> 17.0
                if values.size == 0:
                    continue
                cols = series["columns"]
                order = [cols.index("time")] + [cols.index(f) if f in cols else -1 for f in fields]
                picked = np.column_stack(
                    [values[:, i] if i >= 0 else np.full(len(values), np.nan) for i in order]
                )
                value_parts.append(picked)
                if tag in cols:
                    id_parts.append(values[:, cols.index(tag)].astype("int64"))
                else:
                    id_parts.append(np.full(len(values), int(series["tags"][tag]), dtype="int64"))
        if not value_parts:
            return np.empty(0, dtype="int64"), np.empty((0, 1 + len(fields)))
        return np.concatenate(id_parts), np.concatenate(value_parts)

    def read_bolus(
        self,
        start: dt.datetime | pd.Timestamp,
        end: dt.datetime | pd.Timestamp,
        animal_ids: Sequence[int] | None = None,
        known_at: dt.datetime | pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        s, e = F.check_range(start, end)
        checked = F.check_ids(animal_ids, "animal_id")
        # A large id set (a chunk of a scoring run) would read every series anyway (see
        # READ_ALL_ABOVE_IDS): the cache serves it, filtered, at the cost of its own bucket files.
        # The cache holds readings as known now: a read as known at an earlier time bypasses it.
        if self.read_cache is not None and known_at is None and (checked is None or len(checked) > READ_ALL_ABOVE_IDS) \
                and e > s and s % BUCKET_S == 0 and e % BUCKET_S == 0:
            ids, vals = self.read_cache.read(s, e, fetch=self._read_bolus_shards, markers=self.bucket_writes_since,
                                             animal_ids=None if checked is None else np.asarray(checked, dtype="int64"))
        else:
            ids, vals = self._read_series_s(BOLUS, "animal_id", BOLUS_FIELDS, s, e, checked, known_at)
        if len(ids) == 0:
            return empty_bolus_frame()
        return F.bolus_frame_from_arrays(ids, vals[:, 0].astype("int64"), vals[:, 1], vals[:, 2], vals[:, 3],
                                         vals[:, 4])

    def read_climate(
        self,
        start: dt.datetime | pd.Timestamp,
        end: dt.datetime | pd.Timestamp,
        sensor_ids: Sequence[int] | None = None,
        known_at: dt.datetime | pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        ids, vals = self._read_series(CLIMATE, "sensor_id", ("air_temp_c", "rh_pct"), start, end,
                                      sensor_ids, known_at)
        if len(ids) == 0:
            return empty_climate_frame()
        return F.climate_frame_from_arrays(ids, vals[:, 0].astype("int64"), vals[:, 1], vals[:, 2])

    def read_bolus_received(
        self,
        start: dt.datetime | pd.Timestamp,
        end: dt.datetime | pd.Timestamp,
        animal_ids: Sequence[int] | None = None,
    ) -> pd.DataFrame:
        """:meth:`read_bolus` plus ``received_at`` (aware UTC), straight from the server (never the
        read cache): ``smx replay`` keeps only what a scoring run could have read."""
        ids, vals = self._read_series(BOLUS, "animal_id", (*BOLUS_FIELDS, "received_at"), start, end, animal_ids)
        return F.with_received_at([(i, *v) for i, v in zip(ids.tolist(), vals.tolist())], bolus=True)

    def read_climate_received(
        self,
        start: dt.datetime | pd.Timestamp,
        end: dt.datetime | pd.Timestamp,
        sensor_ids: Sequence[int] | None = None,
    ) -> pd.DataFrame:
        """:meth:`read_climate` plus ``received_at`` (see :meth:`read_bolus_received`)."""
        ids, vals = self._read_series(CLIMATE, "sensor_id", ("air_temp_c", "rh_pct", "received_at"), start, end,
                                      sensor_ids)
        return F.with_received_at([(i, *v) for i, v in zip(ids.tolist(), vals.tolist())], bolus=False)

    def buckets_received_since(
        self,
        since: dt.datetime | pd.Timestamp,
        start: dt.datetime | pd.Timestamp,
        end: dt.datetime | pd.Timestamp,
    ) -> pd.DataFrame:
        """See the interface; bounds are snapped outwards to whole buckets like the SQL store.

        Two steps, so the cost follows what *arrived* rather than the window's size:

        1. candidates: the ``bolus_arrivals`` markers with arrival time at or after the minute of
           ``since`` name the buckets touched since then (markers are keyed by time, so their
           field values being overwritten can never hide one);
        2. exact: ``count`` and ``max(received_at)`` per bucket over the bolus points of the
           candidate span, keeping candidate buckets whose latest arrival is after ``since``.

        Step 2 reads only the candidate buckets (see :func:`_runs`), so the cost follows the
        number of changed buckets, not the window: with nothing late it is one tiny query.
        """
        s, e = F.check_range(start, end)
        s, e = s - s % BUCKET_S, -(-e // BUCKET_S) * BUCKET_S
        since_s = F.epoch_s(since)
        empty = F.changed_buckets_frame(np.array([]), np.array([]), np.array([]))
        if e <= s:
            return empty
        arrived_from = since_s - since_s % 60
        q = (
            f"SELECT \"bucket\" FROM {quote_ident(ARRIVALS)} "
            f"WHERE {_time_bounds(arrived_from, ARRIVALS_UNTIL_S)} "
            f"AND \"bucket\" >= {s} AND \"bucket\" < {e}"
        )
        candidates: set[int] = set()
        for result in self._query(q):
            for series in result.get("series", []):
                candidates.update(int(v[1]) for v in series["values"])
        if not candidates:
            return empty
        rows: list[list[Any]] = []
        statements = [
            f"SELECT count(\"received_at\"), max(\"received_at\") FROM {quote_ident(BOLUS)} "
            f"WHERE {_time_bounds(lo, hi)} GROUP BY time(10m) fill(none)"
            for lo, hi in _runs(sorted(candidates))
        ]
        for i in range(0, len(statements), 50):  # several statements per request, bounded size
            for result in self._query("; ".join(statements[i:i + 50])):
                for series in result.get("series", []):
                    rows.extend(series["values"])
        if not rows:
            return empty
        arr = np.array(rows, dtype="float64")
        keep = (
            ~np.isnan(arr[:, 2]) & (arr[:, 2] > since_s) & (arr[:, 1] > 0)
            & np.isin(arr[:, 0].astype("int64"), np.fromiter(candidates, dtype="int64"))
        )
        arr = arr[keep].astype("int64")
        return F.changed_buckets_frame(arr[:, 0], arr[:, 1], arr[:, 2])

    def bucket_writes_since(self, since_s: int, start_s: int, end_s: int) -> dict[tuple[int, int], int]:
        """(bucket start, animal shard) -> latest write-marker second, for buckets in
        ``[start_s, end_s)`` with a bolus write marker at or after ``since_s`` (the writer's clock;
        see :func:`_write_markers`; shard = ``animal_id % N_SHARDS``).

        The read cache's invalidation: unlike ``bolus_arrivals`` (keyed by ``received_at``, which a
        writer may set in the past) these markers say when a write actually happened.
        """
        q = (
            f"SELECT \"bucket\", \"shard\" FROM {quote_ident(WRITES)} "
            f"WHERE {_time_bounds(max(0, int(since_s)), ARRIVALS_UNTIL_S)} "
            f"AND \"bucket\" >= {int(start_s)} AND \"bucket\" < {int(end_s)}"
        )
        latest: dict[tuple[int, int], int] = {}
        for result in self._query(q):
            for series in result.get("series", []):
                for t, b, k in series["values"]:
                    key, t = (int(b), int(k)), int(t)
                    if t > latest.get(key, -1):
                        latest[key] = t
        return latest

    def _read_bolus_shards(self, ranges: list[tuple[int, int, frozenset[int] | None]]
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Readings of ``[lo, hi)`` for the animals of the given shards (None: all), for the cache.

        A short range (the new bucket of a ten-minute run) is read as one series, a long one (a
        cold start's 26 h) grouped by animal: see :func:`_raw_select`.

        A shard is selected by the id tag's last two digits (``animal_id % 100``) with a regex
        (RE2: ``^(?:\\d*(?:07|42)|7)$``); up to 20 statements go in one request.

        A short all-animal range is read as ``FETCH_SPLIT`` halves of the shards, one request
        each, side by side: InfluxDB answers one request on one core, and at 100,000 animals the
        new bucket took 5.6-8.0 s as one request against 3.5-4.2 s as two at once (2 cores).
        """
        statements, alone = [], []
        for lo, hi, shards in ranges:
            if shards is None and hi - lo <= UNGROUPED_MAX_S and FETCH_SPLIT > 1:
                alone += [_raw_select(BOLUS, "animal_id", BOLUS_FIELDS, lo, hi, _shard_condition(part))
                          for part in _shard_parts(FETCH_SPLIT)]
                continue
            statements.append(_raw_select(BOLUS, "animal_id", BOLUS_FIELDS, lo, hi, _shard_condition(shards)))
        requests_ = [[q] for q in alone] + [statements[i:i + 20] for i in range(0, len(statements), 20)]
        if not requests_:
            return np.empty(0, dtype="int64"), np.empty((0, 1 + len(BOLUS_FIELDS)))

        def fetch(store: InfluxSensorStore, batch: list[str]) -> tuple[np.ndarray, np.ndarray]:
            return store._parse_series(store._query("; ".join(batch)), BOLUS_FIELDS, "animal_id")

        if len(requests_) == 1:
            parts = [fetch(self, requests_[0])]
        else:  # one HTTP session per request: a requests.Session is not shared between threads
            twins = [self._twin() for _ in requests_]
            try:
                with ThreadPoolExecutor(max_workers=min(len(requests_), FETCH_SPLIT),
                                        thread_name_prefix="smx-read") as pool:
                    parts = list(pool.map(fetch, twins, requests_))
            finally:
                for twin in twins:
                    twin.session.close()
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _twin(self) -> InfluxSensorStore:
        """This store with its own HTTP session, for a request on another thread."""
        twin = copy.copy(self)
        twin.session = requests.Session()
        twin.session.verify, twin.session.auth = self.session.verify, self.session.auth
        twin.session.headers.update(self.session.headers)
        return twin

    def reading_span(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last point of ``bolus`` (``received_at`` is on every point)."""
        out = []
        for fn in ("FIRST", "LAST"):
            q = f'SELECT {fn}("received_at") FROM {quote_ident(BOLUS)} WHERE time >= 0 AND time < {ARRIVALS_UNTIL_S}s'
            times = [row[0] for result in self._query(q) for series in result.get("series", [])
                     for row in series.get("values", [])]
            if not times:
                return None
            out.append(pd.Timestamp(times[0], tz="UTC") if not isinstance(times[0], (int, float))
                       else pd.Timestamp(int(times[0]), unit="s", tz="UTC"))
        return out[0], out[1]

    @contextmanager
    def prefetch(self, start: dt.datetime | pd.Timestamp, end: dt.datetime | pd.Timestamp) -> Iterator[None]:
        """Bring the read cache up to date for ``[start, end)`` (whole buckets) in a background
        thread while the block runs.

        A ten-minute run spends 6-10 s at 100,000 animals waiting for InfluxDB to return the new
        bucket, and about as long loading its models and herd records from MLflow and the herd
        DB; run side by side, the wait mostly disappears. The thread has its own HTTP session; a
        read of the range inside the block waits for it (the cache's fetch lock) and then finds
        the buckets fresh. A failed prefetch is logged only: the run's own read fetches again
        and reports the error. Without a read cache this does nothing."""
        cache = self.read_cache
        s, e = F.check_range(start, end)
        s, e = s - s % BUCKET_S, -(-e // BUCKET_S) * BUCKET_S
        if cache is None or e <= s:
            yield
            return
        twin = self._twin()

        def run() -> None:
            try:
                cache.refresh(s, e, twin._read_bolus_shards, twin.bucket_writes_since)
            except Exception as exc:  # noqa: BLE001 - the run's own read retries and raises
                log.warning("read-cache prefetch of %s failed (the run's read fetches again): %s",
                            self.url_for_display, exc)

        thread = threading.Thread(target=run, name="smx-read-prefetch", daemon=True)
        thread.start()
        try:
            yield
        finally:
            thread.join()
            twin.session.close()

    def close(self) -> None:
        self.session.close()

    def after_fork(self) -> None:
        """In a forked worker: a session of its own (the parent's pooled connections stay the
        parent's; they are dropped here, not closed)."""
        self.session = requests.Session()


def _runs(buckets: list[int], max_gap: int = 12) -> list[tuple[int, int]]:
    """Sorted bucket starts merged into half-open second ranges, bridging short gaps.

    Measured on 1.6.7 with 1000 series: each statement costs about 50 ms however short (a
    cursor per series), each extra 10-minute bucket in a range about 4 ms; so gaps of up to
    ``max_gap`` buckets are cheaper read through than split into another statement.
    """
    runs: list[tuple[int, int]] = []
    for b in buckets:
        if runs and b - runs[-1][1] <= max_gap * BUCKET_S:
            runs[-1] = (runs[-1][0], b + BUCKET_S)
        else:
            runs.append((b, b + BUCKET_S))
    return runs


def _arrival_markers(prepared: pd.DataFrame) -> pd.DataFrame:
    """One marker per (bucket touched, minute of arrival) in this write.

    Time = arrival minute plus the bucket's index in nanoseconds (under 4 ms in this century),
    so markers for different buckets never share a timestamp and never overwrite each other.
    """
    bucket = prepared["ts"].to_numpy() // BUCKET_S * BUCKET_S
    minute = prepared["received_at"].to_numpy() // 60 * 60
    pairs = np.unique(np.column_stack([minute, bucket]), axis=0)
    time_ns = pairs[:, 0] * 1_000_000_000 + pairs[:, 1] // BUCKET_S
    return pd.DataFrame(
        {"bucket": pairs[:, 1].astype("int64")},
        index=pd.DatetimeIndex(pd.to_datetime(time_ns, utc=True)),
    )


def _raw_select(measurement: str, tag: str, fields: Sequence[str], s: int, e: int, condition: str = "") -> str:
    """The raw read of ``fields`` in ``[s, e)`` (and ``condition``), one row per point with its id.

    A short range (up to ``UNGROUPED_MAX_S``) selects the id tag as a column, one series: grouped
    by the tag, InfluxDB 1.6 answers with one series per animal, and at 100,000 animals one
    ten-minute bucket (97,000 points) took 17-24 s of server time grouped against 6-7 s as one
    series (27 s against about 11 s once parsed here): the new bucket a ten-minute run fetches was
    most of its time. A long range stays ``GROUP BY`` the tag, cheaper there (the 157-bucket
    window: 187 s grouped, 274 s as one series, InfluxDB merging every animal's cursor by time)."""
    short = e - s <= UNGROUPED_MAX_S
    select = ", ".join(([quote_ident(tag)] if short else []) + [quote_ident(f) for f in fields])
    q = f"SELECT {select} FROM {quote_ident(measurement)} WHERE {_time_bounds(s, e)}"
    if condition:
        q += f" AND {condition}"
    return q if short else f"{q} GROUP BY {quote_ident(tag)}"


def _write_markers(touched: np.ndarray) -> pd.DataFrame:
    """One write marker per (bucket, animal shard) touched, at this process's clock (second).

    Time = that second plus ``(bucket index mod 10^6) * 100 + shard`` nanoseconds (under 0.1 s),
    so markers of different pairs in one write never overwrite each other; two writes of a pair
    within one second share a marker, which is all the read cache needs (any marker newer than
    its fetch).
    """
    now_s = int(time.time())
    touched = np.asarray(touched, dtype="int64").reshape(-1, 2)
    bucket, shard = touched[:, 0], touched[:, 1]
    time_ns = now_s * 1_000_000_000 + (bucket // BUCKET_S % 1_000_000) * N_SHARDS + shard
    return pd.DataFrame({"bucket": bucket, "shard": shard},
                        index=pd.DatetimeIndex(pd.to_datetime(time_ns, utc=True)))


def _shard_parts(n: int) -> list[frozenset[int]]:
    """The animal shards in ``n`` contiguous parts of (nearly) equal size."""
    edges = np.linspace(0, N_SHARDS, n + 1).round().astype(int)
    return [frozenset(range(int(a), int(b))) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _shard_condition(shards: frozenset[int] | None) -> str:
    """The InfluxQL condition selecting the animals of ``shards`` ("" for all of them)."""
    if shards is None or len(shards) >= N_SHARDS:
        return ""
    return f"\"animal_id\" =~ /{_shard_regex(shards)}/"


def _shard_regex(shards: frozenset[int] | set[int]) -> str:
    """RE2 matching decimal ids whose value mod 100 is in ``shards`` (ids have no leading zeros)."""
    two = "|".join(f"{k:02d}" for k in sorted(shards))
    one = "".join(f"|{k}" for k in sorted(shards) if k < 10)
    return f"^(?:\\d*(?:{two}){one})$"


def _error_text(resp: requests.Response) -> str:
    try:
        body = resp.json()
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])
    except ValueError:
        pass
    return resp.text[:500] or resp.reason or ""
