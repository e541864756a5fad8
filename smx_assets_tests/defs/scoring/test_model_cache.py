"""The local model cache on real materialisations: a second run (and a fresh process) loads
every version from the cache without an MLflow download, a promotion is seen by the next run,
and a broken cache entry is loaded from MLflow again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.scoring.assets import scores
from smx_assets.domain import model_registry
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.model_registry import model_cache
from smx_assets.domain.time_grid import BUCKET
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets_tests.scenario import Scenario, rule_baseline_scenario
from smx_assets_tests.score_tables import stored_scores

FMT = "%Y-%m-%d-%H:%M"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Rule baselines for calving and fever, an ML champion for heat (3 versions to load)."""
    with rule_baseline_scenario(tmp_path_factory.mktemp("cache"), n_animals=20, days=14, feature_days=(10, 13)) as sc:
        _register_heat(sc, C=1.0, alias="champion")
        yield sc


def _register_heat(sc: Scenario, C: float, alias: str) -> str:
    uc = next(u for u in all_use_cases() if u.name == "heat")
    frame = FeatureFiles(sc.resources["feature_store"].base_path).read("training_features", sc.day(12))
    X = frame[list(uc.feature_columns)]
    y = (frame["activity_ratio_hod_2h"].fillna(1.0) > 1.3).astype(int)
    model = make_pipeline(SimpleImputer(), LogisticRegression(C=C, max_iter=300)).fit(X, y)
    with model_registry.training_run(uc.experiment_name, run_name=f"heat-C{C}") as run:
        model_registry.log_sklearn_model(model, X)
    version = model_registry.register(run.info.run_id, uc.model_name)
    model_registry.set_alias(uc.model_name, alias, version)
    return version


def _cache_dir(sc: Scenario) -> Path:
    return sc.root / "model_cache"  # $SMX_HOME/model_cache, the default


def _run(sc: Scenario, bucket: pd.Timestamp) -> dict:
    """One bucket's run as a fresh worker would do it (nothing of an earlier run in memory)."""
    model_cache.forget_memory()
    before = model_cache.DOWNLOADS
    result = dg.materialize([scores, *SOURCE_SPECS], selection=[scores], resources=sc.resources,
                            partition_key=bucket.strftime(FMT))
    assert result.success
    md = result.asset_materializations_for_node("scores")[0].metadata
    return {"downloads": model_cache.DOWNLOADS - before, "from": md["models_loaded_from"].value,
            "models": md["models"].value, "load_models": md["stage_seconds"].value["load_models"]}


def _heat_scores(sc: Scenario, bucket: pd.Timestamp) -> pd.DataFrame:
    s = stored_scores(sc.herd_db.engine(), sc.resources["feature_store"].base_path)
    s = s[(pd.to_datetime(s["bucket_start"]) == bucket.tz_localize(None)) & (s["use_case"] == "heat")]
    return s.sort_values("animal_id")[["animal_id", "score", "model_version"]].reset_index(drop=True)


def test_the_second_run_loads_every_model_from_the_cache_then_a_promotion_is_seen(scenario: Scenario) -> None:
    bucket = scenario.day(13) + pd.Timedelta(hours=10)
    first = _run(scenario, bucket)
    assert first["downloads"] == 3 and first["from"] == {"mlflow": 3, "disk": 0, "memory": 0}
    entries = sorted(p.parent for p in _cache_dir(scenario).rglob(model_cache.META_FILE))
    assert len(entries) == 3 and {p.parent.name for p in entries} == {"smx-heat", "smx-calving-rule", "smx-fever-rule"}
    # the ML model is kept loaded (a pickle); rule baselines (models from code) as their artefacts
    pickled = {p.parent.name: json.loads((p / model_cache.META_FILE).read_text())["pickled"] for p in entries}
    assert pickled == {"smx-heat": True, "smx-calving-rule": False, "smx-fever-rule": False}
    assert all((p / "artifacts" / "MLmodel").is_file() for p in entries)
    scored_first = _heat_scores(scenario, bucket)

    second = _run(scenario, bucket)
    assert second["downloads"] == 0 and second["from"] == {"mlflow": 0, "disk": 3, "memory": 0}
    assert second["models"] == first["models"]
    pd.testing.assert_frame_equal(_heat_scores(scenario, bucket), scored_first)  # the same model, the same scores

    # A promotion (champion moved to a new version) is seen by the very next run: one download.
    v2 = _register_heat(scenario, C=0.01, alias="champion")
    third = _run(scenario, bucket)
    assert third["models"]["heat"]["champion"] == f"smx-heat v{v2}"
    assert third["downloads"] == 1 and third["from"] == {"mlflow": 1, "disk": 2, "memory": 0}
    rescored = _heat_scores(scenario, bucket)
    assert set(rescored["model_version"]) == {v2} and not rescored["score"].equals(scored_first["score"])


def test_a_fresh_process_loads_from_the_cache_without_mlflow_downloads(scenario: Scenario) -> None:
    model_cache.forget_memory()
    code = (
        "import json\n"
        "from smx_assets import settings\n"
        "from smx_assets.resources import MlflowResource\n"
        "from smx_assets.domain.model_registry import model_cache\n"
        "from smx_assets.domain.scoring.engine import load_model_sets\n"
        "from smx_assets.domain.use_cases.catalog import all_use_cases\n"
        "client = MlflowResource(tracking_uri=settings.current().mlflow_tracking_uri).client()\n"
        "sets = load_model_sets(all_use_cases(), client=client,\n"
        "                       cache_dir=settings.current().model_cache_dir)\n"
        "print(json.dumps({'downloads': model_cache.DOWNLOADS,\n"
        "                  'origins': sorted(m.champion.origin for m in sets.values())}))\n")
    _run(scenario, scenario.day(13) + pd.Timedelta(hours=11))  # whatever is champion now is cached
    p = subprocess.run([sys.executable, "-c", code], env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out == {"downloads": 0, "origins": ["disk", "disk", "disk"]}
    assert "Downloading artifacts" not in p.stderr


def test_a_fresh_process_with_the_sensors_pins_loads_without_opening_the_registry(scenario: Scenario) -> None:
    """Issue 26 item 2: what a scheduled run does. The pinned versions come from the cache; the
    run never creates its MLflow client (so never imports MLflow's SQL store module)."""
    from smx_assets.domain.model_registry import pins

    _run(scenario, scenario.day(13) + pd.Timedelta(hours=11))  # whatever is champion now is cached
    tag = pins.to_tag(pins.resolve_pins(all_use_cases(), scenario.resources["mlflow"].client()))
    code = (
        "import json, os, sys\n"
        "from smx_assets import settings\n"
        "from smx_assets.resources import MlflowResource\n"
        "from smx_assets.domain.model_registry import model_cache, pins\n"
        "from smx_assets.domain.scoring.engine import load_model_sets\n"
        "from smx_assets.domain.use_cases.catalog import all_use_cases\n"
        "client = MlflowResource(tracking_uri=settings.current().mlflow_tracking_uri).lazy_client()\n"
        "sets = load_model_sets(all_use_cases(), client=client, cache_dir=settings.current().model_cache_dir,\n"
        "                       pins=pins.from_tag(os.environ['PINS']))\n"
        "print(json.dumps({'downloads': model_cache.DOWNLOADS, 'client': client.created,\n"
        "                  'sql_store': 'mlflow.store.tracking.sqlalchemy_store' in sys.modules,\n"
        "                  'origins': sorted(m.champion.origin for m in sets.values()),\n"
        "                  'champions': sorted(f'{m.champion.name} v{m.champion.version}' for m in sets.values())}))\n")
    p = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PINS": tag}, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    expected = sorted(f"{r['champion'].name} v{r['champion'].version}" for r in pins.from_tag(tag).values())
    assert out == {"downloads": 0, "client": False, "sql_store": False, "origins": ["disk", "disk", "disk"],
                   "champions": expected}


def test_a_broken_cache_entry_is_loaded_from_mlflow_again(scenario: Scenario) -> None:
    bucket = scenario.day(13) + pd.Timedelta(hours=12)
    _run(scenario, bucket)
    heat = [p for p in _cache_dir(scenario).rglob(model_cache.MODEL_FILE) if p.parts[-3] == "smx-heat"]
    champion = model_registry.get_alias_version("smx-heat", "champion")
    mine = [p for p in heat if p.parent.name.startswith(f"v{champion.version}-")]
    assert len(mine) == 1
    mine[0].write_bytes(mine[0].read_bytes()[:50])  # truncated, as by a bad copy
    again = _run(scenario, bucket)
    assert again["downloads"] == 1 and again["from"] == {"mlflow": 1, "disk": 2, "memory": 0}
    assert json.loads((mine[0].parent / model_cache.META_FILE).read_text())["version"] == str(champion.version)
    assert len(_heat_scores(scenario, bucket)) > 0 and (_run(scenario, bucket)["from"]["disk"] == 3)


def test_in_one_run_a_promoted_challenger_is_not_loaded_twice(scenario: Scenario) -> None:
    """champion == challenger (just promoted): one load, no shadow scoring of the same version."""
    from smx_assets.domain.scoring.engine import load_model_sets

    champion = model_registry.get_alias_version("smx-heat", "champion")
    model_registry.set_alias("smx-heat", "challenger", champion.version)
    model_cache.forget_memory()
    before = model_cache.DOWNLOADS
    sets = load_model_sets([u for u in all_use_cases() if u.name == "heat"], cache_dir=None)
    assert model_cache.DOWNLOADS - before == 1  # without a disk cache: the one version, once
    assert sets["heat"].challenger is None and sets["heat"].champion.version == str(champion.version)
    assert BUCKET == pd.Timedelta(minutes=10)


def test_two_processes_loading_the_same_uncached_version_at_once_both_succeed(scenario: Scenario,
                                                                           tmp_path: Path) -> None:
    """Shards and a catch-up run beside a new bucket start together on an empty cache: each
    downloads into a folder of its own, so neither loads from a folder the other has cleared
    or half written. Staged: A has downloaded its first version, B starts on the same version
    before A has loaded it."""
    cache, a_done, b_in = tmp_path / "fresh_cache", tmp_path / "a_done", tmp_path / "b_in"
    code = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "import mlflow.artifacts\n"
        "from smx_assets import settings\n"
        "from smx_assets.resources import MlflowResource\n"
        "from smx_assets.domain.model_registry import model_cache\n"
        "from smx_assets.domain.scoring.engine import load_model_sets\n"
        "from smx_assets.domain.use_cases.catalog import all_use_cases\n"
        f"role, a_done, b_in = sys.argv[1], Path({str(a_done)!r}), Path({str(b_in)!r})\n"
        "def wait(p):\n"
        "    while not p.exists(): time.sleep(0.01)\n"
        "real, calls = mlflow.artifacts.download_artifacts, []\n"
        "def staged(*a, **k):\n"
        "    calls.append(1)\n"
        "    if len(calls) > 1: return real(*a, **k)\n"
        "    if role == 'A':\n"
        "        out = real(*a, **k); a_done.touch(); wait(b_in); return out\n"
        "    b_in.touch(); time.sleep(1.0); return real(*a, **k)\n"
        "mlflow.artifacts.download_artifacts = staged\n"
        "if role == 'B': wait(a_done)\n"
        "client = MlflowResource(tracking_uri=settings.current().mlflow_tracking_uri).client()\n"
        "uc = [u for u in all_use_cases() if u.name == 'calving']\n"
        f"sets = load_model_sets(uc, client=client, cache_dir=Path({str(cache)!r}))\n"
        "print(json.dumps({'downloads': model_cache.DOWNLOADS}))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, role], env=dict(os.environ), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for role in ("A", "B")]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert json.loads(out.strip().splitlines()[-1]) == {"downloads": 1}  # both really downloaded
    entries = sorted(cache.rglob(model_cache.META_FILE))
    assert len(entries) == 1 and (entries[0].parent / "artifacts" / "MLmodel").is_file()
    assert not list(cache.rglob(".download-*"))  # the loser's copy is gone
    from smx_assets.domain.scoring.engine import load_model_sets

    model_cache.forget_memory()
    sets = load_model_sets([u for u in all_use_cases() if u.name == "calving"], cache_dir=cache)
    assert sets["calving"].champion.origin == "disk"
