"""The user journey on real data: smx import -> smx train -> scoring -> smx alerts.

On the real weekly exports (2019, 2-hour collar activity, no temperature): training finds too
few label events and keeps the rule baselines as champions, saying why; calving and fever are
skipped for a herd without temperature; scoring 2019 days (far outside any partition window)
raises heat alerts that ``smx alerts`` lists by the farm's own cow numbers, CSV alone on stdout.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from smx_assets_tests.realdata import bovheat_dir

pytestmark = pytest.mark.slow  # ~1-2 min: a real Dagster training run on three weeks of a real herd


def smx(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smx_assets.cli", *args], capture_output=True, text=True,
                          timeout=900, env=env)


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    import os

    root = tmp_path_factory.mktemp("journey")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMX_", "MLFLOW_"))}
    # 2019 exports: the readings retention must reach back that far, or they are rejected as beyond_retention
    env.update(SMX_HOME=str(root / "smx"), DAGSTER_HOME=str(root / "dagster"), SMX_RETENTION_READINGS_DAYS="3650")
    (root / "dagster").mkdir()
    data = bovheat_dir() / "weekly"
    imported = smx("import", str(data), "--farm", "dairy-a", env=env)
    trained = smx("train", "--json", env=env)
    return root, env, imported, trained


def test_import_then_train_keeps_the_rule_baselines_and_says_why(journey) -> None:  # type: ignore[no-untyped-def]
    _root, _env, imported, trained = journey
    assert imported.returncode == 0, imported.stderr
    assert "19643 written" in imported.stderr
    assert trained.returncode == 0, trained.stderr[-3000:]
    out = json.loads(trained.stdout)
    assert out["window"]["end_day"] == "2019-02-17"  # 2019 days, no partition start edited
    heat = out["use_cases"]["heat"]
    assert heat["trained"] == "no" and "too few labels" in heat["reason"] and "smx-heat-rule" in heat["champion"]
    for name in ("calving", "fever"):
        assert "no temperature" in out["use_cases"][name]["reason"]


def test_scoring_2019_and_smx_alerts_by_cow_number(journey) -> None:  # type: ignore[no-untyped-def]
    root, env, _imported, _trained = journey
    import os

    from smx_assets.domain.features.profile import load_herd_records
    from smx_assets.domain.features.storage import FeatureFiles
    from smx_assets.domain.model_registry import configure
    from smx_assets.domain.scoring.engine import ScoringLineage, load_model_sets, score_window
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.domain.sql_engine import make_engine
    from smx_assets.domain.use_cases.catalog import all_use_cases

    home = Path(env["SMX_HOME"])
    engine = make_engine(f"sqlite:///{home / 'herd.db'}")
    store = open_sensor_store(f"sqlite:///{home / 'sensors.db'}")
    client = configure(f"sqlite:///{home / 'mlflow.db'}")
    try:
        model_sets = load_model_sets(all_use_cases(), client=client)
        assert all(ms.fallback for ms in model_sets.values())  # rule baselines stand in
        result = score_window(engine=engine, store=store, files=FeatureFiles(str(home / "features")),
                              records=load_herd_records(engine), model_sets=model_sets,
                              start=pd.Timestamp("2019-02-05T00:00Z"), end=pd.Timestamp("2019-02-12T00:00Z"),
                              lineage=ScoringLineage("test", "retro", None))
    finally:
        store.close()
        engine.dispose()
    assert set(result.skipped_use_cases) == {"calving", "fever"}
    assert "no temperature" in result.skipped_use_cases["fever"]
    assert result.n_buckets == 7 * 144
    heat_alerts = result.alerts_new.get("heat", 0)
    assert heat_alerts > 0 and result.alerts_new.get("calving", 0) == 0
    listed = smx("alerts", "--from", "2019-02-05", "--to", "2019-02-12", "--use-case", "heat", "--csv", env=env)
    assert listed.returncode == 0, listed.stderr
    frame = pd.read_csv(io.StringIO(listed.stdout), dtype={"cow_number": str})  # stdout is the CSV alone
    assert list(frame.columns) == ["farm", "cow_number", "alert_time", "use_case", "model", "version", "score",
                                   "alert_id"]
    assert len(frame) == heat_alerts and set(frame["farm"]) == {"dairy-a"}
    weekly_cows = set(pd.read_excel(bovheat_dir() / "weekly" / "February 11 2019.xlsx",
                                    engine="calamine")["Cow Number"].astype(str))
    assert set(frame["cow_number"]) <= weekly_cows  # the farm's own numbers, not internal ids
    assert frame["alert_time"].str.match(r"^2019-02-(0[5-9]|1[01])T\d\d:\d\d:00Z$").all()
    assert (frame["model"] == "smx-heat-rule").all()
    # one alert per episode: no cow alerts twice within the heat policy's 36 h refractory period
    t = pd.to_datetime(frame["alert_time"])
    gaps = frame.assign(t=t).sort_values("t").groupby("cow_number")["t"].diff().dropna()
    assert (gaps >= pd.Timedelta(hours=36)).all()
    assert f"{len(frame)} alerts" in listed.stderr
    assert os.path.exists(home / "herd.db")
