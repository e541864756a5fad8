"""The ``storage_retention`` asset as Dagster runs it: real materialisation on the embedded
stores, its metadata says what it removed, a second run removes nothing more."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from smx_assets.defs.retention.assets import storage_retention
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.resources import FeatureStoreResource, HerdDbResource, SensorStoreResource
from smx_assets_tests.score_tables import stored_scores, write_scores


def _prediction(bucket: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame([{"use_case": "heat", "animal_id": 1, "bucket_start": bucket, "score": 0.5, "shadow": False,
                          "model_name": "m", "model_version": "1", "model_alias": None, "mlflow_run_id": None,
                          "code_version": "t", "partition_key": "k", "dagster_run_id": None, "feature_ref": None,
                          "scored_at": bucket}])


def test_storage_retention_materialises_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMX_RETENTION_PREDICTIONS_DAYS", "10")
    monkeypatch.setenv("SMX_RETENTION_FEATURES_DAYS", "10")
    monkeypatch.setenv("SMX_RETENTION_READINGS_DAYS", "12")
    herd_url, sensors_url = f"sqlite:///{tmp_path / 'herd.db'}", f"sqlite:///{tmp_path / 'sensors.db'}"
    upgrade_herd_db(herd_url)
    resources = {"herd_db": HerdDbResource(url=herd_url), "sensor_store": SensorStoreResource(url=sensors_url),
                 "feature_store": FeatureStoreResource(base_path=str(tmp_path / "features"))}
    today = pd.Timestamp.now(tz="UTC").floor("D")
    old, new = today - pd.Timedelta(days=20), today - pd.Timedelta(days=1)
    engine = resources["herd_db"].engine()
    for b in (old, new):
        write_scores(engine, str(tmp_path / "features"), _prediction(b))
        FeatureFiles(str(tmp_path / "features")).write_scored(
            pd.DataFrame({"animal_id": np.array([1], dtype="int64"), "bucket_start": [b], "x": [1.0]}))
    store = resources["sensor_store"].open()
    store.ensure_schema()
    store.write_bolus(pd.DataFrame({"animal_id": 1, "ts": pd.to_datetime([old, new], utc=True), "temp_c": 38.5,
                                    "activity": 10.0, "ph": np.nan}))

    def run() -> dict:
        result = dg.materialize([storage_retention], resources=resources)
        assert result.success
        return {k: v.value for k, v in result.asset_materializations_for_node("storage_retention")[0].metadata.items()}

    meta = run()
    assert meta["score_days_removed"] == 1 and meta["lineage_rows_removed"] == 1 and meta["feature_days_removed"] == 1
    assert meta["score_days_compacted"] == 1 and meta["score_bytes_at_rest"] > 0  # yesterday: one sorted file
    assert meta["feature_files_removed"] == 1 and meta["readings"]["bolus_rows_removed"] == 1
    assert meta["retention_days"]["scores"] == 10 and meta["retention_days"]["alerts"] == "kept"
    assert meta["cutoffs"]["scores"] == (today - pd.Timedelta(days=9)).date().isoformat()
    left = stored_scores(engine, str(tmp_path / "features"))
    assert left["bucket_start"].tolist() == [new.tz_localize(None)] and left["model_name"].tolist() == ["m"]
    again = run()
    assert again["score_days_removed"] == 0 and again["score_days_compacted"] == 0
    assert again["lineage_rows_removed"] == 0 and again["readings"]["bolus_rows_removed"] == 0
    assert again["score_bytes_at_rest"] == meta["score_bytes_at_rest"]
    assert len(store.read_bolus(old, today + pd.Timedelta(days=1))) == 1  # the new reading stays
