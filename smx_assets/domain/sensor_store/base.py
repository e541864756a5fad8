"""The sensor-store interface every time-series backend implements.

Two backends (SQL through SQLAlchemy, InfluxDB through its v1-compatible HTTP API) implement
this one small protocol and pass one shared contract test suite, so features, scoring and the
simulator never know which one they talk to.

Frames crossing this interface (all timestamps tz-aware UTC, ``datetime64[ns, UTC]``):

* bolus readings: ``animal_id`` int64, ``ts``, ``temp_c`` float64, ``activity`` float64,
  ``ph`` float64, ``interval_s`` int64. Any one signal may be NaN (no pH sensor on most
  boluses; a neck collar has activity only, no temperature) but not all three. ``ts`` is the
  start of the interval the reading summarises and ``interval_s`` its length: 600 for a bolus,
  7200 for a 2-hour collar export. On write, ``interval_s`` is optional (default 600) and an
  optional ``received_at`` column says when each reading reached the platform (defaults to the
  write time); the simulator uses it to model late delivery.
* climate readings: ``sensor_id`` int64, ``ts``, ``air_temp_c`` float64, ``rh_pct`` float64.

Writes are idempotent on (animal_id, ts) / (sensor_id, ts): writing the same reading twice
leaves one reading. Reads are half-open ``[start, end)`` and sorted by (id, ts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import pandas as pd

BOLUS_COLUMNS = ["animal_id", "ts", "temp_c", "activity", "ph", "interval_s"]
DEFAULT_INTERVAL_S = 600  # a bolus reading summarises one 10-minute bucket
CLIMATE_COLUMNS = ["sensor_id", "ts", "air_temp_c", "rh_pct"]
CHANGED_BUCKET_COLUMNS = ["bucket_start", "n_readings", "last_received_at"]


class SensorStoreError(RuntimeError):
    """The store could not be reached or refused a request; the message says which and why."""


def empty_bolus_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "animal_id": pd.Series(dtype="int64"),
            "ts": pd.Series(dtype="datetime64[ns, UTC]"),
            "temp_c": pd.Series(dtype="float64"),
            "activity": pd.Series(dtype="float64"),
            "ph": pd.Series(dtype="float64"),
            "interval_s": pd.Series(dtype="int64"),
        }
    )


def empty_climate_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sensor_id": pd.Series(dtype="int64"),
            "ts": pd.Series(dtype="datetime64[ns, UTC]"),
            "air_temp_c": pd.Series(dtype="float64"),
            "rh_pct": pd.Series(dtype="float64"),
        }
    )


@runtime_checkable
class SensorStore(Protocol):
    """What features, scoring, ingestion and the simulator need from a time-series store."""

    url_for_display: str  # the store's URL with any credentials masked

    def ensure_schema(self) -> None:
        """Create tables / databases if missing. Idempotent."""

    def write_bolus(self, frame: pd.DataFrame) -> int:
        """Write validated bolus readings (see module doc); returns the number written."""

    def write_climate(self, frame: pd.DataFrame) -> int:
        """Write validated climate readings; returns the number written."""

    def read_bolus(
        self,
        start: dt.datetime | pd.Timestamp,
        end: dt.datetime | pd.Timestamp,
        animal_ids: Sequence[int] | None = None,
        known_at: dt.datetime | pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Bolus readings with ``start <= ts < end``, for all animals or the given ones; with
        ``known_at`` only those received by then (``received_at <= known_at``): the readings as
        a scoring run at that time saw them."""

    def read_climate(
        self,
        start: dt.datetime | pd.Timestamp,
        end: dt.datetime | pd.Timestamp,
        sensor_ids: Sequence[int] | None = None,
        known_at: dt.datetime | pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Climate readings with ``start <= ts < end`` (received by ``known_at`` when given)."""

    def buckets_received_since(
        self,
        since: dt.datetime | pd.Timestamp,
        start: dt.datetime | pd.Timestamp,
        end: dt.datetime | pd.Timestamp,
    ) -> pd.DataFrame:
        """10-minute buckets in ``[start, end)`` that received bolus readings after ``since``.

        Columns ``bucket_start`` (UTC), ``n_readings`` (readings in the bucket now, all
        arrivals), ``last_received_at``. Late-data re-scoring uses it to find buckets whose
        data changed after they were scored.
        """

    def reading_span(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """(first, last) bolus reading time (UTC), or None when the store holds none.

        ``smx train`` trains on what the store holds, whatever its dates (a 2019 import).
        """

    def close(self) -> None:
        """Release connections."""
