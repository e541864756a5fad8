"""MLflow registry on a real sqlite store: logging, registering, loading in a fresh process,
run lifecycle, promotion and rollback."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

from smx_assets.domain import model_registry as reg
from smx_assets_tests.domain.models.toy import TOY, toy_frame

REPO = Path(__file__).resolve().parents[3]


def runs_of(experiment: str) -> pd.DataFrame:
    client = reg.configure()
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return pd.DataFrame(columns=["run_id", "status"])
    runs = client.search_runs([exp.experiment_id])
    return pd.DataFrame({"run_id": [r.info.run_id for r in runs], "status": [r.info.status for r in runs]})


@pytest.fixture(scope="module")
def rule_run(mlflow_store: Path) -> str:
    """One logged rule model, registered many times by the promotion tests (cheap)."""
    X, _ = toy_frame(20)
    with reg.training_run("smx-fixture", run_name="rule") as run:
        reg.log_rule_model(TOY.rule_baseline, X)
    return run.info.run_id


# ------------------------------------------------------------------------- load in fresh process

LOADER = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    import pandas as pd
    from smx_assets.domain import model_registry as reg
    t_import = time.perf_counter() - t0
    X = pd.DataFrame(json.loads(sys.argv[1]))
    out = {"import_s": t_import}
    for name in sys.argv[2:]:
        t = time.perf_counter()
        m = reg.load_champion(name)
        scores = m.predict_scores(X.assign(unrelated_column=1.0))
        out[name] = {"version": m.version, "kind": m.kind, "run_id": m.run_id, "alias": m.alias,
                     "fallback": m.fallback, "scores": scores.tolist(), "load_s": time.perf_counter() - t}
    print("RESULT" + json.dumps(out))
""")


def test_rule_and_sklearn_models_load_from_champion_alias_in_fresh_process(mlflow_store: Path) -> None:
    X, y = toy_frame(200)
    timings = {}
    t = time.perf_counter()
    with reg.training_run("smx-load", run_name="rule", tags={reg.TAG_USE_CASE: "load"}) as rule_run:
        info = reg.log_rule_model(TOY.rule_baseline, X)
    rule_version = reg.register(rule_run.info.run_id, "smx-load-rule")
    reg.set_alias("smx-load-rule", reg.CHAMPION, rule_version)
    timings["rule_log_register_s"] = time.perf_counter() - t

    forest = RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, y)  # tree: skops
    t = time.perf_counter()
    with reg.training_run("smx-load", run_name="ml") as ml_run:
        reg.log_sklearn_model(forest, X)
    ml_version = reg.register(ml_run.info.run_id, "smx-load")
    reg.set_alias("smx-load", reg.CHAMPION, ml_version)
    timings["sklearn_log_register_s"] = time.perf_counter() - t

    # Models live under the explicit artifact location in SMX_HOME, not the cwd.
    assert info.model_uri.startswith("models:/m-")
    assert list((mlflow_store / "artifacts" / "smx-load" / "models").glob("m-*/artifacts/MLmodel"))
    assert str(reg.get_alias_version("smx-load", reg.CHAMPION).version) == ml_version
    assert reg.get_alias_version("smx-load", "nope") is None
    assert reg.get_alias_version("no-such-model", reg.CHAMPION) is None

    sample = X.head(7)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", LOADER, sample.to_json(orient="columns"), "smx-load-rule", "smx-load"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    timings["fresh_process_total_s"] = time.perf_counter() - t
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])

    rule = result["smx-load-rule"]
    assert (rule["version"], rule["kind"], rule["alias"], rule["fallback"]) == (rule_version, "rule", "champion", False)
    assert rule["run_id"] == rule_run.info.run_id
    np.testing.assert_allclose(rule["scores"], TOY.rule_baseline.score(sample))
    ml = result["smx-load"]
    assert (ml["version"], ml["kind"], ml["run_id"]) == (ml_version, "ml", ml_run.info.run_id)
    np.testing.assert_allclose(ml["scores"], forest.predict_proba(sample)[:, 1])
    timings.update(import_s=result["import_s"], rule_load_s=rule["load_s"], ml_load_s=ml["load_s"])
    print("TIMINGS", json.dumps({k: round(v, 2) for k, v in timings.items()}))

    # Registry tags say what each version is.
    client = reg.configure()
    assert client.get_model_version("smx-load-rule", rule_version).tags[reg.TAG_KIND] == "rule"
    assert client.get_registered_model("smx-load").tags[reg.TAG_KIND] == "ml"


def test_no_champion_falls_back_to_rule_baseline(mlflow_store: Path, rule_run: str) -> None:
    with pytest.raises(reg.NoModelError):
        reg.load_champion("smx-orphan")
    assert reg.load_alias("smx-orphan", reg.CHALLENGER) is None  # shadow scoring never falls back
    v = reg.register(rule_run, "smx-orphan-rule")  # no alias at all: newest version is used
    loaded = reg.load_champion("smx-orphan")
    assert (loaded.name, loaded.version, loaded.fallback, loaded.kind, loaded.alias) == (
        "smx-orphan-rule", v, True, "rule", None)
    X, _ = toy_frame(5)
    np.testing.assert_allclose(loaded.predict_scores(X), TOY.rule_baseline.score(X))


# ------------------------------------------------------------------------------- run lifecycle


def test_exactly_one_finished_run_per_training_call(mlflow_store: Path) -> None:
    exp = "smx-lifecycle"
    with reg.training_run(exp, run_name="ok", tags={"dagster_run_id": "abc"}) as run:
        mlflow.log_metric("f1", 0.5)
    runs = runs_of(exp)
    assert runs["status"].tolist() == ["FINISHED"]
    assert mlflow.active_run() is None
    assert reg.configure().get_run(run.info.run_id).data.tags["dagster_run_id"] == "abc"

    with pytest.raises(RuntimeError, match="boom"):
        with reg.training_run(exp, run_name="fails") as failed:
            mlflow.log_param("p", 1)
            raise RuntimeError("boom")
    assert mlflow.active_run() is None
    got = reg.configure().get_run(failed.info.run_id)
    assert got.info.status == "FAILED" and "boom" in got.data.tags["smx.error"]

    # A body that ends the run itself and then fails still leaves FAILED.
    with pytest.raises(ValueError):
        with reg.training_run(exp, run_name="self-ended") as self_ended:
            mlflow.end_run()
            raise ValueError("after end_run")
    # Nested runs the body leaves open end with the parent's status.
    with pytest.raises(KeyError):
        with reg.training_run(exp, run_name="with-child") as parent:
            child = mlflow.start_run(nested=True, experiment_id=parent.info.experiment_id)
            raise KeyError("inside child")
    client = reg.configure()
    assert client.get_run(self_ended.info.run_id).info.status == "FAILED"
    assert client.get_run(child.info.run_id).info.status == "FAILED"
    assert client.get_run(parent.info.run_id).info.status == "FAILED"
    assert mlflow.active_run() is None

    runs = runs_of(exp)
    assert len(runs) == 5  # 4 training calls (one run each) + the one nested child
    assert "RUNNING" not in runs["status"].tolist()


def test_leftover_active_run_is_killed_not_reused(mlflow_store: Path) -> None:
    """The dagster-mlflow failure mode: a run left active in the thread by an earlier step."""
    exp = "smx-leftover"
    reg.ensure_experiment(exp)
    leaked = mlflow.start_run(experiment_id=reg.ensure_experiment(exp), run_name="leaked")
    with reg.training_run(exp, run_name="fresh") as fresh:
        assert fresh.info.run_id != leaked.info.run_id
        mlflow.log_param("alpha", 2)  # would clash if the leaked run were reused with alpha=1
    client = reg.configure()
    assert client.get_run(leaked.info.run_id).info.status == "KILLED"
    assert client.get_run(fresh.info.run_id).info.status == "FINISHED"
    assert mlflow.active_run() is None


# ---------------------------------------------------------------------------------- promotion


@pytest.mark.parametrize("chal,champ,base,promote,winner", [
    (0.70, None, 0.60, True, "challenger"),   # first time, challenger better
    (0.55, None, 0.60, True, "baseline"),     # first time, baseline better
    (0.60, None, 0.60, True, "baseline"),     # first time, tie -> the simpler rule
    (math.nan, None, 0.60, True, "baseline"),
    (0.70, 0.60, 0.50, True, "challenger"),   # beats both by >= 0.02
    (0.61, 0.60, 0.50, False, "champion"),    # beats the champion by less than the margin
    (0.70, 0.50, 0.69, False, "champion"),    # beats the champion, not the baseline
    (math.nan, 0.50, 0.40, False, "champion"),
])
def test_decide_promotion(chal: float, champ: float | None, base: float, promote: bool, winner: str) -> None:
    d = reg.decide_promotion({"f1": chal}, None if champ is None else {"f1": champ}, {"f1": base}, margin=0.02)
    assert (d.promote, d.winner, d.first_time) == (promote, winner, champ is None)
    assert d.numbers["baseline_f1"] == base or math.isnan(base)
    assert d.reason


def test_promotion_moves_alias_only_on_real_improvement_and_rollback(mlflow_store: Path, rule_run: str,
                                                                      capsys: pytest.CaptureFixture) -> None:
    name, rule_name = "smx-promo", "smx-promo-rule"
    client = reg.configure()
    base_v = reg.register(rule_run, rule_name)
    baseline = {"f1": 0.60}

    # First time, the challenger (v1) is worse than the rule: the rule becomes champion as a
    # copied version of smx-promo, so scoring still loads models:/smx-promo@champion.
    v1 = reg.register(rule_run, name)
    d = reg.decide_promotion({"f1": 0.50}, None, baseline)
    capsys.readouterr()
    champ = reg.apply_promotion(d, model_name=name, challenger_version=v1,
                                baseline_model_name=rule_name, baseline_version=base_v)
    printed = capsys.readouterr()
    assert "Copied version" not in printed.err + printed.out  # MLflow's copy_model_version prints it
    assert "already exists" not in printed.err + printed.out
    assert champ == "2" and str(reg.get_alias_version(name, reg.CHAMPION).version) == "2"
    mv2 = client.get_model_version(name, "2")
    assert mv2.tags[reg.TAG_KIND] == "rule" and mv2.tags[reg.TAG_COPIED_FROM] == f"{rule_name}/{base_v}"
    assert client.get_model_version(name, v1).tags["smx.promotion.decision"] == "rejected"
    assert reg.load_champion(name).kind == "rule"

    # A challenger within the margin does not move the alias.
    v3 = reg.register(rule_run, name)
    d = reg.decide_promotion({"f1": 0.61}, {"f1": 0.60}, baseline, margin=0.02)
    assert reg.apply_promotion(d, model_name=name, challenger_version=v3) is None
    assert str(reg.get_alias_version(name, reg.CHAMPION).version) == "2"
    assert "does not beat" in client.get_model_version(name, v3).tags["smx.promotion.reason"]

    # A real improvement moves it and records the decision on version and run.
    v4 = reg.register(rule_run, name)
    with reg.training_run("smx-promo", run_name="promotion") as prun:
        pass
    d = reg.decide_promotion({"f1": 0.70}, {"f1": 0.60}, baseline, margin=0.02)
    assert reg.apply_promotion(d, model_name=name, challenger_version=v4, run_id=prun.info.run_id) == v4
    assert str(reg.get_alias_version(name, reg.CHAMPION).version) == v4
    tags = client.get_model_version(name, v4).tags
    assert tags["smx.promotion.decision"] == "promoted" and tags["smx.promotion.previous_champion"] == "2"
    assert json.loads(tags["smx.promotion.numbers"])["challenger_f1"] == 0.70
    assert reg.load_alias(name, reg.CHAMPION).version == v4
    assert client.get_run(prun.info.run_id).data.tags["smx.promotion.new_champion"] == v4
    assert reg.champion_history(name) == ["2", v4]

    # Rollback restores the previous champion; another one has nowhere to go.
    r = reg.rollback(name)
    assert (r.old_version, r.new_version) == (v4, "2")
    assert str(reg.get_alias_version(name, reg.CHAMPION).version) == "2"
    with pytest.raises(reg.NoModelError):
        reg.rollback(name)

    # The CLI: explicit version, then back to the previous champion.
    from smx_assets.commands import rollback as rollback_cmd

    parser = argparse.ArgumentParser()
    rollback_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["rollback", "smx-promo", "--to-version", v4])
    assert args.func(args) == 0
    assert str(reg.get_alias_version(name, reg.CHAMPION).version) == v4
    args = parser.parse_args(["rollback", "smx-promo"])
    assert args.func(args) == 0
    assert str(reg.get_alias_version(name, reg.CHAMPION).version) == "2"
    assert f"smx-promo: champion v{v4} -> v2" in capsys.readouterr().out
    args = parser.parse_args(["rollback", "smx-promo", "--to-version", "99"])
    from smx_assets.commands._args import UserError

    with pytest.raises(UserError, match="rollback failed"):  # unknown version: one line (exit 1), alias untouched
        args.func(args)
    assert str(reg.get_alias_version(name, reg.CHAMPION).version) == "2"


def test_first_time_challenger_wins(mlflow_store: Path, rule_run: str) -> None:
    name = "smx-first"
    v1 = reg.register(rule_run, name)
    d = reg.decide_promotion({"f1": 0.8, "sensitivity": 0.9}, None, {"f1": 0.6, "precision": 0.5})
    assert d.numbers["challenger_sensitivity"] == 0.9 and d.numbers["baseline_precision"] == 0.5
    assert reg.apply_promotion(d, model_name=name, challenger_version=v1) == v1
    assert str(reg.get_alias_version(name, reg.CHAMPION).version) == v1
    assert reg.champion_history(name) == [v1]


def test_champion_kind_from_the_run_when_the_version_has_no_tag(mlflow_store: Path, rule_run: str) -> None:
    """A version registered before versions carried ``smx.model_kind`` (only its run has it):
    promoting it still tags the registered model with the champion's kind, as loading finds it."""
    from smx_assets.domain.model_registry import promotion

    client = reg.configure()
    version = reg.register(rule_run, "smx-oldkind")
    client.delete_model_version_tag("smx-oldkind", version, reg.TAG_KIND)
    client.set_registered_model_tag("smx-oldkind", reg.TAG_KIND, "ml")  # what it said before
    assert client.get_run(rule_run).data.tags[reg.TAG_KIND] == "rule"
    promotion._move_champion(client, "smx-oldkind", version)
    assert client.get_registered_model("smx-oldkind").tags[reg.TAG_KIND] == "rule"
