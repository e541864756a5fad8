"""Real materialisations of training, promotion and rollback on a small simulated herd.

One module fixture simulates 80 cows for 25 days, writes the herd DB (temporary SQLite) and the
last 15 days of ``training_features`` (Parquet under a temp folder, computed by the feature
layer's functions: materialising them through the feature assets costs minutes and is covered
by the features tests). MLflow uses a temporary sqlite store with
its artifacts under a temporary ``SMX_HOME``. The training window is shrunk by config (11 train
+ 1 gap + 3 eval days) so the whole module stays well under a minute of model fitting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd
import pytest

from smx_assets.defs import load_domain
from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.partitions import PARTITIONS_START
from smx_assets.domain import model_registry as reg
from smx_assets.domain.features import attach_labels, compute_features
from smx_assets.domain.features.baselines import CONTEXT as BASELINE_CONTEXT
from smx_assets.domain.features.baselines import baselines_from_stats, daily_hourly_stats
from smx_assets.domain.features.pipeline import LOOKBACK
from smx_assets.domain.features.profile import records_from_tables
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.simulator.config import SimConfig
from smx_assets.domain.simulator.loader import write_herd
from smx_assets.domain.simulator.simulation import simulate
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.resources import FeatureStoreResource, HerdDbResource, MlflowResource, SensorStoreResource

pytestmark = pytest.mark.slow  # ~3 min: real training runs, promotions and rollbacks

REPO = Path(__file__).resolve().parents[3]
START = pd.Timestamp(PARTITIONS_START, tz="UTC")
DAY = pd.Timedelta(days=1)
USE_CASES = [uc.name for uc in all_use_cases()]
WINDOW = {"train_days": 11, "gap_days": 1, "eval_days": 3}
FIRST_END = START + 20 * DAY


def _write_training_features(herd, files: FeatureFiles, days: list[pd.Timestamp]) -> None:
    """training_features files for ``days`` through the feature layer's own functions (what the
    asset computes; the asset itself is materialised by the features tests and once below)."""
    records = records_from_tables(herd.tables())
    bolus, climate = herd.bolus, herd.climate
    stats = pd.concat([daily_hourly_stats(bolus[(bolus["ts"] >= d - BASELINE_CONTEXT) & (bolus["ts"] < d + DAY)], d)
                       for d in pd.date_range(START, days[-1], freq="D", inclusive="left")], ignore_index=True)
    live = records.known_by(herd.config.end_ts)
    for d in days:
        w = (bolus["ts"] >= d - LOOKBACK) & (bolus["ts"] < d + DAY)
        wc = (climate["ts"] >= d - LOOKBACK) & (climate["ts"] < d + DAY)
        frame = compute_features(bolus[w], climate[wc], records.known_by(d + DAY), baselines_from_stats(stats, d),
                                 (d, d + DAY))
        files.write(attach_labels(frame, live), "training_features", d)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """80 cows over 25 days (seed 11 has calvings and fevers in both the train and eval days)."""
    tmp: Path = tmp_path_factory.mktemp("training_assets")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SMX_HOME", str(tmp))
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        herd = simulate(SimConfig(n_animals=80, days=25, seed=11, start=START.date()))
        upgrade_herd_db(f"sqlite:///{tmp / 'herd.db'}")  # start-up step: resources only check the schema
        resources = {
            "herd_db": HerdDbResource(url=f"sqlite:///{tmp / 'herd.db'}"),
            "sensor_store": SensorStoreResource(url=f"sqlite:///{tmp / 'sensors.db'}"),
            "feature_store": FeatureStoreResource(base_path=str(tmp / "features")),
            "mlflow": MlflowResource(tracking_uri=uri),
        }
        write_herd(herd, resources["herd_db"].engine())
        _write_training_features(herd, FeatureFiles(str(tmp / "features")),
                                 [START + k * DAY for k in range(10, 25)])
        defs = dg.Definitions.merge(load_domain("features", "training"),
                                    dg.Definitions(assets=SOURCE_SPECS, resources=resources))
        try:
            yield {"defs": defs, "uri": uri, "home": tmp, "resources": resources, "herd": herd}
        finally:
            while mlflow.active_run() is not None:
                mlflow.end_run("KILLED")
            # MlflowResource.configure() sets the registry URI too (globally, and in os.environ):
            # undo both, or later test modules would resolve models:/ URIs in this store.
            mlflow.set_tracking_uri(None)
            mlflow.set_registry_uri(None)
            os.environ.pop("MLFLOW_REGISTRY_URI", None)


def _train(env: dict, margin: float | None = None, only: list[str] | None = None,
           end_day: str = "") -> dg.ExecuteInProcessResult:
    ucs = only or USE_CASES
    ops = {f"{uc}_model": {"config": {**WINDOW, "end_day": end_day}} for uc in ucs}
    if margin is not None:
        ops.update({f"{uc}_promotion": {"config": {"margin": margin}} for uc in ucs})
    selection = None if only is None else [dg.AssetKey(f"{uc}_{kind}") for uc in only for kind in ("model", "promotion")]
    return env["defs"].resolve_job_def("training_job").execute_in_process(
        run_config={"ops": ops}, raise_on_error=False, asset_selection=selection)


def _runs(uc: str) -> list:
    client = reg.configure()
    exp = client.get_experiment_by_name(f"smx-{uc}")
    return [] if exp is None else client.search_runs([exp.experiment_id])


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}


@pytest.fixture(scope="module")
def first_training(env: dict) -> dg.ExecuteInProcessResult:
    # Up to day 20: later trainings on the whole window have days 21-24 that the first
    # champions never saw, the only rows an ML champion is compared on.
    result = _train(env, end_day=FIRST_END.strftime("%Y-%m-%d"))
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def test_first_training_registers_challenger_and_best_of_baseline_and_challenger(env, first_training) -> None:
    client = reg.configure()
    assert first_training.dagster_run.tags["smx/run_kind"] == "training"
    checks = _checks(first_training)
    for uc in USE_CASES:
        runs = _runs(uc)
        assert [r.info.status for r in runs] == ["FINISHED"]
        run = runs[0]
        assert run.data.tags["dagster_run_id"] == first_training.run_id
        p = run.data.params
        assert p["eval.method"] == "cross-validation by animal" and p["eval.folds"] == "3"
        assert p["data.partition_last"] == FIRST_END.strftime("%Y-%m-%d")
        assert {"data.partition_first", "data.feature_list_hash", "code_version", "eval.cv_scores"} <= set(p)
        assert {"eval.n_events", "eval.baseline.n_events"} <= set(run.data.metrics)
        challenger = reg.get_alias_version(f"smx-{uc}", reg.CHALLENGER, client)
        champion = reg.get_alias_version(f"smx-{uc}", reg.CHAMPION, client)
        assert challenger.run_id == run.info.run_id and champion is not None
        ml_won = champion.version == challenger.version
        numbers = json.loads(client.get_run(run.info.run_id).data.tags["smx.promotion.numbers"])
        mat = first_training.asset_materializations_for_node(f"{uc}_promotion")[0]
        events = mat.metadata["eval_events"].value
        assert events == run.data.metrics["eval.n_events"]  # the promotion saw the training run's evidence
        if events < 8:  # too little evidence: said so, no NaN comparison, the rule is first champion
            assert not ml_won and numbers == {}
            assert f"{events} {uc} event" in mat.metadata["reason"].value and "at least 8 needed" in \
                mat.metadata["reason"].value
        else:
            assert ml_won == (numbers["challenger_f1"] > numbers["baseline_f1"])
            assert numbers["challenger_f1"] == pytest.approx(run.data.metrics["eval.f1"])
        assert (champion.tags or {}).get(reg.TAG_KIND) == ("ml" if ml_won else "rule")
        # The registered model's kind tag names its champion's kind.
        assert client.get_registered_model(f"smx-{uc}").tags[reg.TAG_KIND] == ("ml" if ml_won else "rule")
        rule = reg.latest_version(f"smx-{uc}-rule", client)
        assert rule.tags[reg.TAG_KIND] == "rule" and rule.run_id == run.info.run_id
        check = checks[f"{uc}_promotion"]
        assert check.passed and "first champion" in check.metadata["reason"].value
        assert "nan" not in json.dumps({k: str(v.value) for k, v in mat.metadata.items()}).lower()
        assert mat.metadata["decision"].value == "promoted"
        # Links that open in the MLflow UI (SMX_MLFLOW_UI_URL), not ids to copy by hand.
        ui = "http://127.0.0.1:5000/#/"
        model_md = first_training.asset_materializations_for_node(f"{uc}_model")[0].metadata
        assert isinstance(model_md["mlflow_run"], dg.UrlMetadataValue)
        assert model_md["mlflow_run"].value == f"{ui}experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
        assert model_md["model_version_link"].value == f"{ui}models/smx-{uc}/versions/{challenger.version}"
        assert mat.metadata["champion_link"].value == f"{ui}models/smx-{uc}/versions/{champion.version}"
        assert mat.metadata["mlflow_run"].value == f"{ui}runs/{challenger.run_id}"


def test_no_real_improvement_keeps_champion_and_fails_the_check(env, first_training) -> None:
    client = reg.configure()
    before = {uc: reg.get_alias_version(f"smx-{uc}", reg.CHAMPION, client).version for uc in USE_CASES}
    result = _train(env, margin=1.0)  # nothing can gain a whole unit of F1
    assert result.success  # a rejected challenger is a normal outcome (WARN), not a red run
    checks = _checks(result)
    for uc in USE_CASES:
        runs = _runs(uc)
        assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]  # one per training run
        assert {r.data.tags["dagster_run_id"] for r in runs} == {first_training.run_id, result.run_id}
        challenger = reg.get_alias_version(f"smx-{uc}", reg.CHALLENGER, client)
        assert challenger.run_id != runs[-1].info.run_id or len(runs) == 2
        assert reg.get_alias_version(f"smx-{uc}", reg.CHAMPION, client).version == before[uc]
        assert challenger.tags["smx.promotion.decision"] == "rejected"
        check = checks[f"{uc}_promotion"]
        reason = check.metadata["reason"].value
        assert not check.passed and ("does not beat" in reason or "not enough evidence" in reason)
        assert check.severity == dg.AssetCheckSeverity.WARN or "baseline" in check.metadata["reason"].value
    # the rule baseline is registered once per code version, not once per training run
    assert len(client.search_model_versions("name = 'smx-heat-rule'")) == 1


def test_improvement_moves_champion_and_rollback_job_moves_it_back(env, first_training) -> None:
    client = reg.configure()
    before = reg.get_alias_version("smx-heat", reg.CHAMPION, client).version
    result = _train(env, margin=-1.0, only=["heat"])  # every challenger "improves": the alias must move
    assert result.success
    after = reg.get_alias_version("smx-heat", reg.CHAMPION, client)
    challenger = reg.get_alias_version("smx-heat", reg.CHALLENGER, client)
    assert after.version == challenger.version != before
    assert _checks(result)["heat_promotion"].passed

    rb = env["defs"].resolve_job_def("rollback_job").execute_in_process(
        run_config={"ops": {"rollback_champion": {"config": {"use_case": "heat"}}}})
    assert rb.success
    assert reg.get_alias_version("smx-heat", reg.CHAMPION, client).version == before
    rb2 = env["defs"].resolve_job_def("rollback_job").execute_in_process(
        run_config={"ops": {"rollback_champion": {"config": {"use_case": "heat", "to_version": int(after.version)}}}})
    assert rb2.success and reg.get_alias_version("smx-heat", reg.CHAMPION, client).version == after.version
    bad = env["defs"].resolve_job_def("rollback_job").execute_in_process(
        run_config={"ops": {"rollback_champion": {"config": {"use_case": "nope"}}}}, raise_on_error=False)
    assert not bad.success


def test_champions_load_from_alias_in_a_fresh_process(env, first_training) -> None:
    files = FeatureFiles(env["resources"]["feature_store"].base_path)
    day = START + 24 * DAY
    frame = files.read("training_features", day).head(200)
    sample = env["home"] / "sample.parquet"
    frame.to_parquet(sample)
    code = textwrap.dedent("""
        import json, sys
        import pandas as pd
        from smx_assets.domain import model_registry as reg
        from smx_assets.domain.use_cases.catalog import all_use_cases
        frame = pd.read_parquet(sys.argv[1])
        out = {}
        for uc in all_use_cases():
            m = reg.load_champion(uc.model_name, fallback_name=uc.rule_model_name)
            s = m.predict_scores(frame)
            out[uc.name] = {"version": m.version, "alias": m.alias, "n": len(s), "ok": bool(((s >= 0) & (s <= 1)).all())}
        print("RESULT" + json.dumps(out))
    """)
    envvars = {**os.environ, "MLFLOW_TRACKING_URI": env["uri"], "SMX_HOME": str(env["home"])}
    proc = subprocess.run([sys.executable, "-c", code, str(sample)], capture_output=True, text=True, cwd=REPO,
                          env=envvars, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    client = reg.configure()
    for uc in USE_CASES:
        assert out[uc]["alias"] == "champion" and out[uc]["n"] == 200 and out[uc]["ok"]
        assert out[uc]["version"] == str(reg.get_alias_version(f"smx-{uc}", reg.CHAMPION, client).version)


def test_daily_features_job_and_schedule(env) -> None:
    job = env["defs"].resolve_job_def("daily_features_job")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert keys == {"animal_profiles", "sensor_baselines", "training_features"}
    tick = pd.Timestamp("2026-10-05 00:30", tz="UTC").to_pydatetime()
    schedule = env["defs"].resolve_schedule_def("daily_features_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    with dg.build_schedule_context(scheduled_execution_time=tick) as ctx:
        reqs = list(schedule.evaluate_tick(ctx).run_requests)
    assert [r.partition_key for r in reqs] == ["2026-10-04"]  # the day that just ended
