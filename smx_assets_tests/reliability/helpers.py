"""Helpers of the reliability suite: scoring runs, error texts, reading copies, table counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.scoring.assets import scores
from smx_assets.domain.features.pipeline import LOOKBACK
from smx_assets.domain.features.profile import active_animals, load_herd_records
from smx_assets.domain.herd_db import Prediction, to_db_ts
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.time_grid import BUCKET
from smx_assets_tests.scenario import Scenario

FMT = "%Y-%m-%d-%H:%M"
N_ANIMALS = 12
SECRET = "s3cr3t-Pa55w0rd"  # a password that must never show up anywhere


@dataclass
class World:
    sc: Scenario

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.sc.resources)

    def bucket(self, k: int) -> pd.Timestamp:
        """The k-th bucket after noon of the last featured day (tests use distinct k)."""
        return self.sc.day(3) + pd.Timedelta(hours=12) + k * BUCKET

    def expected_predictions(self, bucket: pd.Timestamp) -> int:
        records = load_herd_records(self.sc.herd_db.engine())
        return len(active_animals(records, bucket, bucket + BUCKET)) * 3  # three rule champions


def materialize_scores(resources: dict[str, Any], bucket: pd.Timestamp, *, instance: dg.DagsterInstance | None = None,
                       use_cases: list[str] | None = None) -> dg.ExecuteInProcessResult:
    config: dict[str, Any] = {"use_cases": use_cases} if use_cases else {}
    return dg.materialize(
        [scores, *SOURCE_SPECS], selection=[scores], resources=resources, partition_key=bucket.strftime(FMT),
        run_config={"ops": {"scores": {"config": config}}}, instance=instance, raise_on_error=False,
    )


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Every message of the run's step failures, causes included (what the UI shows)."""
    texts = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            err = event.step_failure_data.error
            while err is not None:
                texts.append(err.to_string())
                err = err.cause
    return "\n".join(texts)


def predictions_of(engine: Engine, bucket: pd.Timestamp) -> pd.DataFrame:
    table = Prediction.__table__
    with engine.connect() as conn:
        return pd.read_sql_query(sa.select(table).where(table.c.bucket_start == to_db_ts(bucket)), conn)


def alerts_of(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text("SELECT * FROM alerts"), conn)


def copy_scoring_window(src: SensorStore, dst: SensorStore, first: pd.Timestamp, last: pd.Timestamp) -> int:
    """Copy what scoring buckets ``first..last`` read (trailing window included) between stores."""
    start, end = first - LOOKBACK - BUCKET, last + BUCKET
    dst.ensure_schema()
    n = dst.write_bolus(src.read_bolus(start, end))
    dst.write_climate(src.read_climate(start, end))
    return n
