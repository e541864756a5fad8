"""Put a simulated herd where a real farm's data would be: herd DB rows and sensor readings.

What a farm would have *recorded* by a moment ``as_of`` is what gets written: calvings,
inseminations and treatments once their ``recorded_at`` has passed, pregnancy outcomes once
known, housing periods that have begun, readings that have *arrived* (``received_at``). The
rest of the simulated truth stays in the frames until live mode reaches it.

Row ids are deterministic (see ``herd.py``), so rewriting is an upsert: ``write_herd`` first
deletes every row of the herd's farms and animals, then inserts; ``write_herd_delta`` replaces
just the rows whose visible state changed in a time window.

Readings go through ingestion validation (``validate_and_write_bolus`` in
``smx_assets.domain.ingest_validation``), which rejects the simulator's artefacts with reasons;
they are written in chunks of ``CHUNK_ROWS`` in arrival order with progress logging.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from smx_assets.domain import herd_db as db
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.simulator.herd import Herd
from smx_assets.domain.simulator.simulation import SimulatedHerd
from smx_assets.domain.time_grid import utc

log = logging.getLogger(__name__)

# Readings per validation + write call. The InfluxDB store cuts a call into 50,000-line bodies
# itself and serialises big calls in worker processes; per call there are fixed costs (the
# serializer's set-up, arrival markers, a rejected-readings transaction). Measured with 200
# animals x 30 days into InfluxDB: 10k-row calls 13.3 s, 200k 9.3 s, 500k 7.8 s.
CHUNK_ROWS = 500_000
SQL_CHUNK_ROWS = 500_000
_ID_CHUNK = 500
# herd-DB model per simulator table, in insert order (parents first)
MODELS: dict[str, type[db.Base]] = {
    "farms": db.Farm,
    "climate_sensors": db.ClimateSensor,
    "animals": db.Animal,
    "housing_periods": db.HousingPeriod,
    "lactations": db.Lactation,
    "inseminations": db.Insemination,
    "treatments": db.Treatment,
    "gt_events": db.GtEvent,
}
# called as writer(frame, store, engine, now); returns anything (ingest_validation's summary)
ReadingWriter = Callable[[pd.DataFrame, SensorStore, Engine, pd.Timestamp], Any]


def _as_herd(herd: SimulatedHerd | Herd) -> Herd:
    return herd.herd if isinstance(herd, SimulatedHerd) else herd


_utc = utc  # scalar: naive taken as UTC, aware converted


def visible_tables(herd: SimulatedHerd | Herd, as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The herd tables as the farm's records stand at ``as_of`` (columns of the herd DB)."""
    h = _as_herd(herd)
    as_of = _utc(as_of)
    animals = h.animals.copy()
    not_yet = animals["bolus_inserted_at"] > as_of  # the bolus is not in the cow yet
    animals.loc[not_yet, ["bolus_id"]] = None
    animals["bolus_inserted_at"] = animals["bolus_inserted_at"].where(~not_yet)

    housing = h.housing_periods[h.housing_periods["start"] <= as_of].copy()
    # A herd that never changes housing (one farm) has no end at all: an object column of
    # None, which cannot be compared with a timestamp.
    end = pd.to_datetime(housing["end"], utc=True)
    housing["end"] = end.where(end <= as_of)

    ins = h.inseminations[h.inseminations["recorded_at"] <= as_of].copy()
    known = ins["outcome_known_at"] <= as_of
    ins["pregnancy_check_at"] = ins["pregnancy_check_at"].where(ins["pregnancy_check_at"] <= as_of)
    ins["pregnant"] = ins["pregnant"].astype(object).where(known, None)

    return {
        "farms": h.farms,
        "climate_sensors": h.climate_sensors,
        "animals": animals,
        "housing_periods": housing,
        "lactations": h.lactations[h.lactations["recorded_at"] <= as_of],
        "inseminations": ins.drop(columns=["outcome_known_at"]),
        "treatments": h.treatments[h.treatments["recorded_at"] <= as_of],
        "gt_events": h.gt_events[h.gt_events["start"] <= as_of],
    }


def _records(frame: pd.DataFrame, model: type[db.Base]) -> list[dict[str, Any]]:
    """DataFrame rows -> plain Python dicts the herd DB accepts (naive UTC datetimes, None)."""
    columns = [c.name for c in model.__table__.columns if c.name in frame.columns]
    out: dict[str, list[Any]] = {}
    for name in columns:
        col = frame[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            naive = col.dt.tz_convert("UTC").dt.tz_localize(None)
            out[name] = [None if pd.isna(v) else v.to_pydatetime() for v in naive]
        elif col.dtype == object:
            out[name] = [None if (v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT) else v
                         for v in col]
        else:
            out[name] = [None if pd.isna(v) else v for v in col.tolist()]
    return [dict(zip(columns, row)) for row in zip(*(out[c] for c in columns))]


def _chunks(values: list[int], size: int = _ID_CHUNK) -> Iterable[list[int]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _delete_herd(conn: Connection, herd: Herd) -> None:
    """Delete the herd's farms and animals with everything hanging off them (also animals an
    earlier, bigger run put on these farms), children first."""
    animals = db.Animal.__table__
    farm_ids = [int(v) for v in herd.farms["id"]]
    animal_ids = {int(v) for v in herd.animals["id"]}
    for ids in _chunks(farm_ids):
        animal_ids.update(conn.execute(sa.select(animals.c.id).where(animals.c.farm_id.in_(ids))).scalars())
    ordered = sorted(animal_ids)
    for name in ("gt_events", "treatments", "inseminations", "lactations", "housing_periods", "animals"):
        table = MODELS[name].__table__
        key = table.c.id if name == "animals" else table.c.animal_id
        for ids in _chunks(ordered):
            conn.execute(table.delete().where(key.in_(ids)))
    for name, key in (("climate_sensors", "farm_id"), ("farms", "id")):
        table = MODELS[name].__table__
        for ids in _chunks(farm_ids):
            conn.execute(table.delete().where(table.c[key].in_(ids)))


def write_herd(herd: SimulatedHerd | Herd, engine: Engine, as_of: pd.Timestamp | None = None
               ) -> dict[str, int]:
    """Replace the herd's rows in the herd DB with its records as of ``as_of`` (default: window end).

    Idempotent: the same herd written twice leaves one copy; a rerun with another seed or size
    on the same farm ids replaces the earlier herd. Returns rows written per table.
    """
    h = _as_herd(herd)
    as_of = _utc(as_of if as_of is not None else h.config.end_ts)
    tables = visible_tables(h, as_of)
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        _delete_herd(conn, h)
        for name, model in MODELS.items():
            rows = _records(tables[name], model)
            if rows:
                conn.execute(model.__table__.insert(), rows)
            counts[name] = len(rows)
    log.info("herd DB: wrote %s (as of %s)", counts, as_of)
    return counts


def write_herd_delta(herd: SimulatedHerd | Herd, engine: Engine, since: pd.Timestamp, until: pd.Timestamp
                     ) -> dict[str, int]:
    """Upsert the rows whose visible state changed in ``[since, until)`` (live mode).

    A row changes when it is recorded, when a pregnancy outcome or a housing period's end
    becomes known, when a bolus is inserted, or when a ground-truth episode starts.
    """
    h = _as_herd(herd)
    since, until = _utc(since), _utc(until)
    now = visible_tables(h, until)

    def changed(frame: pd.DataFrame, *cols: str) -> pd.Series:
        mask = pd.Series(False, index=frame.index)
        for col in cols:
            mask |= (frame[col] >= since) & (frame[col] < until)
        return mask

    ins_full = h.inseminations
    ins_ids = ins_full.loc[changed(ins_full, "recorded_at", "outcome_known_at"), "id"]
    picks = {
        "animals": now["animals"][changed(h.animals, "bolus_inserted_at")],
        "housing_periods": now["housing_periods"][changed(now["housing_periods"], "start", "end")],
        "lactations": now["lactations"][changed(now["lactations"], "recorded_at")],
        "inseminations": now["inseminations"][now["inseminations"]["id"].isin(ins_ids)],
        "treatments": now["treatments"][changed(now["treatments"], "recorded_at")],
        "gt_events": now["gt_events"][changed(now["gt_events"], "start")],
    }
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        for name, frame in picks.items():
            table = MODELS[name].__table__
            ids = [int(v) for v in frame["id"]]
            for chunk in _chunks(ids):
                if name == "animals":
                    conn.execute(table.update().where(table.c.id.in_(chunk)).values(bolus_id=None))
                else:
                    conn.execute(table.delete().where(table.c.id.in_(chunk)))
            rows = _records(frame, MODELS[name])
            if rows and name == "animals":
                for row in rows:  # the animal row exists (children reference it): update it
                    conn.execute(table.update().where(table.c.id == row["id"]).values(**row))
            elif rows:
                conn.execute(table.insert(), rows)
            counts[name] = len(rows)
    return counts


def _ids_in(engine: Engine, model: type[db.Base]) -> set[int]:
    with engine.connect() as conn:
        return {int(v) for v in conn.execute(sa.select(model.__table__.c.id)).scalars()}


def default_bolus_writer(engine: Engine, batch_prefix: str) -> ReadingWriter:
    """Ingestion validation's bolus writer, with the herd's animal ids looked up once and
    deterministic batch ids (a rerun replaces its rejected-readings rows instead of adding)."""
    from smx_assets.domain.ingest_validation import validate_and_write_bolus

    known = _ids_in(engine, db.Animal)
    counter = itertools.count()

    def write(frame: pd.DataFrame, store: SensorStore, engine: Engine, now: pd.Timestamp) -> Any:
        # ``now`` is the simulation's arrival clock; ``future`` is judged by the wall clock.
        return validate_and_write_bolus(frame, store, engine, None, batch_id=f"{batch_prefix}-{next(counter)}",
                                        known_animal_ids=known)
    return write


def default_climate_writer(engine: Engine, batch_prefix: str) -> ReadingWriter:
    """Ingestion validation's climate writer (see :func:`default_bolus_writer`)."""
    from smx_assets.domain.ingest_validation import validate_and_write_climate

    known = _ids_in(engine, db.ClimateSensor)
    counter = itertools.count()

    def write(frame: pd.DataFrame, store: SensorStore, engine: Engine, now: pd.Timestamp) -> Any:
        return validate_and_write_climate(frame, store, engine, None, batch_id=f"{batch_prefix}-{next(counter)}",
                                          known_sensor_ids=known)
    return write


def batch_prefix(config: Any, what: str, since: pd.Timestamp) -> str:
    return f"sim-s{config.seed}-f{config.first_farm_id}-{what}-{_utc(since):%Y%m%dT%H%M}"


def write_readings(frame: pd.DataFrame, store: SensorStore, engine: Engine, now: pd.Timestamp, *,
                   writer: ReadingWriter, what: str = "bolus", chunk_rows: int = CHUNK_ROWS) -> list[Any]:
    """Write readings that have arrived by ``now`` (``received_at < now``) in arrival order.

    Chunks of ``chunk_rows`` go to ``writer(chunk, store, engine, now)`` — ingestion
    validation — and progress is logged about every 10 s. Returns the writer's results.
    """
    now = _utc(now)
    arrived = frame[frame["received_at"] < now]
    # sort on the int64 view: to_numpy() of a tz-aware column is an object array of Timestamps
    # (about 5 us a row to build plus an object sort: 15 s for 4.3 M readings)
    arrived = arrived.iloc[np.argsort(pd.DatetimeIndex(arrived["received_at"]).asi8, kind="stable")]
    total = len(arrived)
    results: list[Any] = []
    t0 = last = time.monotonic()
    for i in range(0, total, chunk_rows):
        results.append(writer(arrived.iloc[i:i + chunk_rows], store, engine, now))
        if time.monotonic() - last > 10.0:
            last = time.monotonic()
            done = min(i + chunk_rows, total)
            log.info("%s readings: %d/%d written (%.0f/s)", what, done, total, done / (last - t0))
    elapsed = time.monotonic() - t0
    log.info("%s readings: %d written in %.1f s (%.0f/s)", what, total, elapsed, total / max(elapsed, 1e-9))
    return results


def load(herd: SimulatedHerd, engine: Engine, store: SensorStore, as_of: pd.Timestamp | None = None, *,
         bolus_writer: ReadingWriter | None = None, climate_writer: ReadingWriter | None = None,
         chunk_rows: int = CHUNK_ROWS) -> dict[str, Any]:
    """Batch load: herd DB rows as of ``as_of`` (default window end) and the readings arrived by then."""
    as_of = _utc(as_of if as_of is not None else herd.config.end_ts)
    counts: dict[str, Any] = dict(write_herd(herd, engine, as_of))
    cfg = herd.config
    write_readings(herd.climate, store, engine, as_of, what="climate", chunk_rows=chunk_rows, writer=climate_writer
                   or default_climate_writer(engine, batch_prefix(cfg, "climate", cfg.start_ts)))
    write_readings(herd.bolus, store, engine, as_of, chunk_rows=chunk_rows, writer=bolus_writer
                   or default_bolus_writer(engine, batch_prefix(cfg, "bolus", cfg.start_ts)))
    counts["bolus_readings_sent"] = int((herd.bolus["received_at"] < as_of).sum())
    counts["climate_readings_sent"] = int((herd.climate["received_at"] < as_of).sum())
    return counts
