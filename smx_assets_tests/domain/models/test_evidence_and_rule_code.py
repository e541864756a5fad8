"""Promotion evidence (event counts, folds by animal) and rule baselines logged from code."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smx_assets.domain import model_registry as reg
from smx_assets.domain.use_cases.catalog import use_case
from smx_assets.domain.use_cases.cross_validation import Evidence, animal_folds, evidence, rows_after


def test_too_few_events_is_a_sentence_not_a_nan() -> None:
    ev = evidence(use_case("calving"), {"n_events": 2.0, "f1": float("nan")})
    assert not ev.enough
    assert ev.message == "2 calving events in the evaluation window; at least 8 needed"
    assert Evidence("fever", 1, 8).message.startswith("1 fever event in")
    assert Evidence("heat", 8, 8).enough


def test_folds_split_animals_not_rows() -> None:
    ids = pd.Series(np.repeat(np.arange(1, 31), 50))
    folds = animal_folds(ids, k=3, seed=4)
    assert set(folds) == set(range(1, 31)) and sorted(pd.Series(folds).value_counts()) == [10, 10, 10]
    assert folds == animal_folds(ids.sample(frac=1, random_state=1), k=3, seed=4)  # row order does not matter
    with pytest.raises(ValueError, match="at least 3 animals"):
        animal_folds(pd.Series([1, 1, 2]), k=3)


def test_rows_after_a_champions_window() -> None:
    frame = pd.DataFrame({"bucket_start": pd.date_range("2026-11-01", periods=4, freq="12h", tz="UTC")})
    assert rows_after(frame, "2026-11-01").tolist() == [False, False, True, True]
    assert rows_after(frame, None).all()


def test_rule_baseline_is_logged_from_code_without_cloudpickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SMX_HOME", str(tmp_path))
    client = reg.configure(f"sqlite:///{tmp_path / 'mlflow.db'}")
    uc = use_case("calving")
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"temp_dev_hod_2h": rng.normal(-0.2, 0.2, 40), "days_pregnant": rng.uniform(200, 285, 40)})
    with caplog.at_level(logging.WARNING):
        with reg.training_run("rule-code", client=client) as run:
            info = reg.log_rule_model(uc.rule_baseline, X, name="rule_model")
    assert not [r for r in caplog.records if "CloudPickle" in r.getMessage()]
    assert info.flavors["python_function"].get("model_code_path")  # logged as code, not as a pickle
    version = reg.register(run.info.run_id, "smx-calving-rule", artifact_name="rule_model", client=client)
    loaded = reg.load_version(client.get_model_version("smx-calving-rule", version), alias=None, client=client)
    np.testing.assert_allclose(loaded.predict_scores(X), uc.rule_baseline.score(X))
    import mlflow

    mlflow.set_tracking_uri(None)
