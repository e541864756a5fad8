"""Real materialisations of the feature assets on real stores (SQLite herd DB and sensor store,
Parquet under a temp folder), including a 3-day single-run backfill and the parity check."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from smx_assets.defs import load_domain
from smx_assets.defs.features.assets import animal_profiles, sensor_baselines, training_features
from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.partitions import PARTITIONS_START
from smx_assets.domain.features import FEATURE_COLUMNS, KEY_COLUMNS, LABEL_COLUMNS
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.simulator.config import SimConfig
from smx_assets.domain.simulator.loader import write_herd
from smx_assets.domain.simulator.simulation import simulate
from smx_assets.resources import FeatureStoreResource, HerdDbResource, SensorStoreResource

START = pd.Timestamp(PARTITIONS_START, tz="UTC")
DAY = pd.Timedelta(days=1)
ASSETS = [animal_profiles, sensor_baselines, training_features, *SOURCE_SPECS]


@pytest.fixture(scope="module")
def resources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A 20-cow herd simulated from the first partition day for 14 days, loaded into real stores."""
    tmp: Path = tmp_path_factory.mktemp("features_assets")
    herd = simulate(SimConfig(n_animals=20, days=14, seed=5, start=START.date()))
    upgrade_herd_db(f"sqlite:///{tmp / 'herd.db'}")  # start-up step: resources only check the schema
    res = {
        "herd_db": HerdDbResource(url=f"sqlite:///{tmp / 'herd.db'}"),
        "sensor_store": SensorStoreResource(url=f"sqlite:///{tmp / 'sensors.db'}"),
        "feature_store": FeatureStoreResource(base_path=str(tmp / "features")),
    }
    write_herd(herd, res["herd_db"].engine())
    store = res["sensor_store"].open()
    store.write_bolus(herd.bolus.drop(columns=["received_at"]))
    store.write_climate(herd.climate.drop(columns=["received_at"]))
    return res


def _run(resources: dict[str, object], first: str, last: str | None = None,
         instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    tags = {}
    kwargs: dict[str, object] = {}
    if last is None:
        kwargs["partition_key"] = first
    else:
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return dg.materialize(ASSETS, selection=[animal_profiles, sensor_baselines, training_features],
                          resources=resources, tags=tags, instance=instance, **kwargs)


def test_definitions_load(resources) -> None:
    merged = dg.Definitions.merge(load_domain("features"), dg.Definitions(assets=SOURCE_SPECS, resources=resources))
    merged.resolve_implicit_global_asset_job_def()
    keys = {k.to_user_string() for k in merged.resolve_asset_graph().get_all_asset_keys()}
    assert {"animal_profiles", "sensor_baselines", "training_features"} <= keys
    # a backfill fans out into runs of at most SMX_TRAINING_BACKFILL_DAYS_PER_RUN days (31), the
    # three daily feature assets alike, so a backfill of all of them splits into the same runs
    for asset in (animal_profiles, sensor_baselines, training_features):
        assert asset.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=31)


def test_three_day_single_run_backfill_and_parity(resources) -> None:
    days = [START + k * DAY for k in (10, 11, 12)]
    keys = [d.strftime("%Y-%m-%d") for d in days]
    instance = dg.DagsterInstance.ephemeral()
    result = _run(resources, keys[0], keys[-1], instance=instance)
    assert result.success
    mats = result.asset_materializations_for_node("training_features")
    assert sorted(m.partition for m in mats) == keys  # one run, three partitions
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 1 and checks[0].passed, checks[0].metadata
    assert checks[0].metadata["rows_compared"].value > 0

    files = FeatureFiles(resources["feature_store"].base_path)
    total = 0
    for d, key in zip(days, keys):
        frame = files.read("training_features", d)
        # Per-partition metadata as the event log stored it: this day's rows and file, not the run's.
        stored = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("training_features"), asset_partitions=[key]), limit=1).records
        md = stored[0].asset_materialization.metadata
        assert md["dagster/row_count"].value == len(frame), key
        assert md["path"].value.endswith(f"training_features/{key}.parquet")
        assert md["label_positive_rows"].value == {c: int((frame[c] == 1).sum()) for c in LABEL_COLUMNS}
        assert md["run_partition_range"].value == f"{keys[0]}..{keys[-1]}"
        base = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("sensor_baselines"), asset_partitions=[key]), limit=1).records
        assert base[0].asset_materialization.metadata["path"].value.endswith(f"{key}.parquet")
        assert base[0].asset_materialization.metadata["dagster/row_count"].value == len(files.read("sensor_baselines", d))
        # every bucket for every animal with a bolus in it (a bolus inserted later has no rows)
        assert frame is not None and len(frame) >= 18 * 144
        assert frame.groupby("animal_id").size().max() == 144
        total += len(frame)
        assert list(frame.columns) == KEY_COLUMNS + FEATURE_COLUMNS + LABEL_COLUMNS
        assert frame["bucket_start"].min() == d and frame["bucket_start"].max() == d + DAY - pd.Timedelta(minutes=10)
        assert frame["baseline_10d_missing"].mean() < 0.2  # 10 days of history were there
        assert files.exists("sensor_baselines", d) and files.read_records(d) is not None

    md = mats[0].metadata
    assert md["run_row_count"].value == total and md["dagster/row_count"].value < total
    assert 0 < md["missing_share"].value < 0.5
    assert "temp_clean" in md["preview"].value
    schema = md["dagster/column_schema"].schema
    assert [c.name for c in schema.columns] == KEY_COLUMNS + FEATURE_COLUMNS + LABEL_COLUMNS


def test_single_partition_rerun_is_idempotent(resources) -> None:
    key = (START + 12 * DAY).strftime("%Y-%m-%d")
    files = FeatureFiles(resources["feature_store"].base_path)
    before = files.read("training_features", key)
    result = _run(resources, key)
    assert result.success and result.get_asset_check_evaluations()[0].passed
    after = files.read("training_features", key)
    pd.testing.assert_frame_equal(before.drop(columns=LABEL_COLUMNS), after.drop(columns=LABEL_COLUMNS))


def test_missing_upstream_fails_clearly(resources, tmp_path: Path) -> None:
    res = dict(resources, feature_store=FeatureStoreResource(base_path=str(tmp_path / "empty")))
    result = dg.materialize(ASSETS, selection=[training_features], resources=res,
                            partition_key=(START + 11 * DAY).strftime("%Y-%m-%d"), raise_on_error=False)
    assert not result.success
    assert "animal_profiles" in str(result.get_step_failure_events()[0].event_specific_data.error.message)
