"""Training and promotion as assets: ``<uc>_model`` and ``<uc>_promotion`` for every use case.

``<uc>_model`` reads a window of ``training_features`` days, splits it by time (older days
train, the newest evaluate, a gap between), fits the use case's model on farm-record labels,
evaluates it event-level on the held-out days with the use case's alert policy, and logs
everything to ONE MLflow run (params, metrics, dataset lineage, code version, the model with
signature and input example; the rule baseline too when this code version has not registered
it yet). It registers a new version of ``smx-<uc>`` and points ``challenger`` at it.

``<uc>_promotion`` scores challenger, champion and rule baseline on the challenger's held-out
window (read back from its run), decides with ``model_registry.decide_promotion`` and moves
``champion`` with ``apply_promotion``. The decision is tagged on the challenger's training run
(not on a run of its own: one training run = one MLflow run per use case), on the versions,
and shown as asset metadata and a blocking asset check.

Why not dagster-mlflow: see ``smx_assets.domain.model_registry`` (one run per Dagster run is
the wrong unit, runs stay RUNNING without its hook). ``model_registry.training_run`` always
ends its run and tags it with ``dagster_run_id`` (dagster-mlflow's lookup convention).
"""


import json
import math
import time
from typing import Any

import dagster as dg
import pandas as pd

from smx_assets.domain import model_registry as reg
from smx_assets.domain import run_hygiene
from smx_assets.domain.features import KEY_COLUMNS, LABEL_COLUMNS
from smx_assets.domain.features.profile import FarmRecords, load_herd_records
from smx_assets.domain.features.storage import TRAINING, FeatureFiles
from smx_assets.domain.time_grid import day_key
from smx_assets.domain.use_cases.base import UseCase, signal_gate
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.domain.use_cases.training import (
    check_trainable,
    evaluate_scores,
    feature_list_hash,
    fit_model,
    score_frame,
    sklearn_scorer,
    time_split,
    too_few_labels,
)
from smx_assets.resources import FeatureStoreResource, HerdDbResource, MlflowResource
from smx_assets.settings import code_version

GROUP = "training"
OWNERS = ["team:ml-platform"]
DAY = pd.Timedelta(days=1)
RULE_ARTIFACT = "rule_model"
TAG_NOT_TRAINED = "smx.not_trained_reason"  # on smx-<uc>-rule: why the last training kept the rule


class TrainingConfig(dg.Config):
    """Which ``training_features`` days train and evaluate.

    The window is the ``train_days + gap_days + eval_days`` days ending at ``end_day``
    (default: the newest materialised day). The defaults (36 + 2 + 7 = 45 days) fit the demo
    herd; missing days inside the window are skipped and listed in the metadata.
    """

    train_days: int = 36
    eval_days: int = 7
    gap_days: int = 2
    end_day: str = ""
    negatives_per_positive: int = 12
    seed: int = 0
    # fewer label events than this (train / evaluation days): no model, the rule baseline stays
    min_train_label_events: int = 1
    min_eval_label_events: int = 0


class PromotionConfig(dg.Config):
    margin: float = 0.02  # absolute F1 the challenger must gain over champion and rule baseline


def _available_days(files: FeatureFiles) -> list[pd.Timestamp]:
    paths = files.fs.glob(f"{files.root}/{TRAINING}/*.parquet")
    days = []
    for p in paths:
        try:
            days.append(pd.Timestamp(p.rsplit("/", 1)[-1].removesuffix(".parquet"), tz="UTC"))
        except ValueError:
            continue
    return sorted(days)


def _read_days(files: FeatureFiles, days: list[pd.Timestamp], uc: UseCase) -> tuple[pd.DataFrame, list[str]]:
    """Only the use case's columns (a 45-day window of every column would not fit a small box)."""
    cols = KEY_COLUMNS + list(uc.feature_columns) + LABEL_COLUMNS
    frames, missing = [], []
    for d in days:
        frame = files.read(TRAINING, d, columns=cols)
        if frame is None:
            missing.append(day_key(d))
        else:
            frames.append(frame)
    if not frames:
        raise dg.Failure(f"no training_features in {day_key(days[0])}..{day_key(days[-1])}: materialise them first")
    return pd.concat(frames, ignore_index=True), missing


def _window(files: FeatureFiles, cfg: TrainingConfig) -> list[pd.Timestamp]:
    available = _available_days(files)
    if not available:
        raise dg.Failure("training_features has no materialised day: run daily_features_job (or a backfill) first")
    end = pd.Timestamp(cfg.end_day, tz="UTC") if cfg.end_day else available[-1]
    n = cfg.train_days + cfg.gap_days + cfg.eval_days
    return list(pd.date_range(end - (n - 1) * DAY, end, freq="D"))


def _md_metrics(rows: dict[str, dict[str, float]]) -> str:
    keys = ["sensitivity", "precision", "f1", "lead_time_median_h", "false_alerts_per_100_cow_days",
            "n_events", "n_alerts", "row_auc"]
    frame = pd.DataFrame({who: {k: m.get(k, math.nan) for k in keys} for who, m in rows.items()})
    return frame.to_markdown(floatfmt=".3f")


def _num(v: Any) -> float | int | str:
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    return v


def _rule_version_for_code(uc: UseCase, client: Any) -> str | None:
    """The rule baseline version registered by this code version (None: register one now)."""
    for mv in client.search_model_versions(f"name = '{uc.rule_model_name}'"):
        tags = mv.tags or {}
        if tags.get(reg.TAG_CODE_VERSION) == code_version() and \
                tags.get("smx.rule_params") == json.dumps(uc.rule_baseline.params, sort_keys=True):
            return str(mv.version)
    return None


def train_use_case(context: dg.AssetExecutionContext, uc: UseCase, config: TrainingConfig,
                   feature_store: FeatureStoreResource, herd_db: HerdDbResource,
                   mlflow: MlflowResource) -> dg.MaterializeResult:
    """The body of every ``<uc>_model`` asset (one MLflow run, always ended)."""
    client = mlflow.client()  # the resource's tracking AND registry store (a separate registry_uri included)
    # A training killed earlier left its run RUNNING and its version half-registered: say so first.
    run_hygiene.end_dead_runs(client, reg.ensure_experiment(uc.experiment_name, client))
    run_hygiene.mark_incomplete(client, uc.model_name)
    files = FeatureFiles(feature_store.base_path)
    days = _window(files, config)
    frame, missing = _read_days(files, days, uc)
    records: FarmRecords = load_herd_records(herd_db.engine())
    eligible, skipped = signal_gate(uc, records.animals)
    usable = frame[frame["animal_id"].isin(eligible)] if skipped else frame
    if usable.empty:
        return _rule_stays_champion(context, uc, client, frame, days, f"{uc.name} {skipped}")
    try:
        train, evaluation, split = time_split(usable, config.eval_days, config.gap_days)
        check_trainable(uc, train, records)
    except ValueError as exc:  # NotEnoughData: fewer days than the window needs, or no positive label
        return _rule_stays_champion(context, uc, client, frame, days, f"{exc}; the rule baseline stays champion")
    why = too_few_labels(uc, train, evaluation, records, config.min_train_label_events,
                         config.min_eval_label_events)
    if why:
        return _rule_stays_champion(context, uc, client, frame, days, why)
    frame = usable
    tags = {"dagster_run_id": context.run_id, reg.TAG_USE_CASE: uc.name, "smx.asset": context.asset_key.to_user_string(),
            "smx.run_kind": "training"}
    t_start = time.perf_counter()
    with reg.training_run(uc.experiment_name, run_name=f"{uc.name}-{context.run_id[:8]}", tags=tags, client=client) as run:
        import mlflow as mlf

        lineage = {"data.partition_first": day_key(days[0]), "data.partition_last": day_key(days[-1]),
                   "data.days_missing": ",".join(missing)[:500] or "none", "data.rows": len(frame),
                   "data.rows_train": len(train), "data.rows_eval": len(evaluation),
                   "data.feature_list_hash": feature_list_hash(uc.feature_columns),
                   "data.n_features": len(uc.feature_columns), "data.features_path": files.display_base,
                   "code_version": code_version()}
        mlf.log_params({**lineage, **split.as_params(), **{f"policy.{k}": v for k, v in uc.alert_policy.as_params().items()},
                        "config.train_days": config.train_days, "config.eval_days": config.eval_days,
                        "config.gap_days": config.gap_days})
        mlf.log_text("\n".join(uc.feature_columns), "features.txt")

        fit = fit_model(uc, train, records, negatives_per_positive=config.negatives_per_positive, seed=config.seed)
        mlf.log_params(fit.params)
        mlf.log_metrics({f"train.{k}": float(v) for k, v in fit.counts.items()} | {"train.fit_seconds": fit.seconds})

        ml_scores = score_frame(sklearn_scorer(fit.model, uc.feature_columns), evaluation)
        rule_scores = score_frame(uc.rule_baseline.score, evaluation)
        ml_metrics = evaluate_scores(uc, evaluation, ml_scores, records)
        rule_metrics = evaluate_scores(uc, evaluation, rule_scores, records)
        mlf.log_metrics({f"eval.{k}": v for k, v in ml_metrics.items() if not math.isnan(v)})
        mlf.log_metrics({f"eval.baseline.{k}": v for k, v in rule_metrics.items() if not math.isnan(v)})

        example = evaluation[list(uc.feature_columns)].astype("float64").head(50)
        rule_version = _rule_version_for_code(uc, client)
        if rule_version is None:  # once per code version: the rule is code, not data
            reg.log_rule_model(uc.rule_baseline, example, name=RULE_ARTIFACT)
        reg.log_sklearn_model(fit.model, example, tags={reg.TAG_USE_CASE: uc.name})
        run_id = run.info.run_id
        if rule_version is None:
            rule_version = reg.register(run_id, uc.rule_model_name, artifact_name=RULE_ARTIFACT,
                                        tags={reg.TAG_KIND: "rule", "smx.rule_params":
                                              json.dumps(uc.rule_baseline.params, sort_keys=True)},
                                        client=client)
        version = reg.register(run_id, uc.model_name, tags={reg.TAG_KIND: "ml"}, client=client, complete=False)
        _clear_not_trained(uc, client)
        reg.set_alias(uc.model_name, reg.CHALLENGER, version, client=client)
        mlf.set_tags({"smx.registered_version": version, "smx.rule_version": rule_version})
        run_hygiene.mark_ready(client, uc.model_name, version)  # evaluated, registered and aliased
    seconds = time.perf_counter() - t_start
    context.log.info("%s: v%s trained in %.1f s, eval F1 %.3f (rule %.3f)", uc.name, version, seconds,
                     ml_metrics["f1"], rule_metrics["f1"])
    return dg.MaterializeResult(metadata={
        "model": f"{uc.model_name} v{version} (alias challenger)",
        "mlflow_run_id": run_id,
        "registered_version": version,
        "rule_baseline": f"{uc.rule_model_name} v{rule_version}",
        "partition_range": f"{day_key(days[0])}..{day_key(days[-1])}",
        "train_days": f"{split.train_days[0]}..{split.train_days[-1]}" if split.train_days else "",
        "eval_days": f"{split.eval_days[0]}..{split.eval_days[-1]}",
        "days_missing": missing,
        "rows": fit.counts | {"eval": len(evaluation)},
        "feature_list_hash": feature_list_hash(uc.feature_columns),
        "code_version": code_version(),
        "train_seconds": dg.MetadataValue.float(round(fit.seconds, 2)),
        "eval_f1": dg.MetadataValue.float(float(ml_metrics["f1"])),
        "eval_baseline_f1": dg.MetadataValue.float(float(rule_metrics["f1"])),
        "eval_metrics": dg.MetadataValue.md(_md_metrics({"challenger": ml_metrics, "rule baseline": rule_metrics})),
    })


def _clear_not_trained(uc: UseCase, client: Any) -> None:
    if TAG_NOT_TRAINED in (client.get_registered_model(uc.rule_model_name).tags or {}):
        client.delete_registered_model_tag(uc.rule_model_name, TAG_NOT_TRAINED)


def _rule_stays_champion(context: dg.AssetExecutionContext, uc: UseCase, client: Any, frame: pd.DataFrame,
                         days: list[pd.Timestamp], reason: str) -> dg.MaterializeResult:
    """No model is trained: the rule baseline is registered (once per code version) and stays
    champion; the stale challenger alias is removed so the promotion cannot promote an older
    model; the reason is in the asset's metadata and on an MLflow run of its own."""
    rule_version = _rule_version_for_code(uc, client)
    tags = {"dagster_run_id": context.run_id, reg.TAG_USE_CASE: uc.name, "smx.asset": context.asset_key.to_user_string(),
            "smx.run_kind": "training", "smx.training.outcome": "rule_baseline_stays_champion",
            "smx.training.reason": reason[:5000]}
    with reg.training_run(uc.experiment_name, run_name=f"{uc.name}-{context.run_id[:8]}-rule", tags=tags,
                          client=client) as run:
        if rule_version is None:
            example = frame[list(uc.rule_baseline.feature_columns)].astype("float64").head(50)
            reg.log_rule_model(uc.rule_baseline, example, name=RULE_ARTIFACT)
            rule_version = reg.register(run.info.run_id, uc.rule_model_name, artifact_name=RULE_ARTIFACT,
                                        tags={reg.TAG_KIND: "rule", "smx.rule_params":
                                              json.dumps(uc.rule_baseline.params, sort_keys=True)},
                                        client=client)
    if reg.get_alias_version(uc.model_name, reg.CHALLENGER, client) is not None:
        client.delete_registered_model_alias(uc.model_name, reg.CHALLENGER)
    client.set_registered_model_tag(uc.rule_model_name, TAG_NOT_TRAINED, reason[:500])
    champion = reg.get_alias_version(uc.model_name, reg.CHAMPION, client)
    context.log.warning("%s: no model trained: %s", uc.name, reason)
    return dg.MaterializeResult(metadata={
        "model": "none trained",
        "reason": reason,
        "champion": (f"{uc.model_name} v{champion.version}" if champion
                     else f"{uc.rule_model_name} v{rule_version} (rule baseline)"),
        "rule_baseline": f"{uc.rule_model_name} v{rule_version}",
        "partition_range": f"{day_key(days[0])}..{day_key(days[-1])}",
        "mlflow_run_id": run.info.run_id,
    })


def promote_use_case(context: dg.AssetExecutionContext, uc: UseCase, config: PromotionConfig,
                     feature_store: FeatureStoreResource, herd_db: HerdDbResource,
                     mlflow: MlflowResource) -> tuple[dg.MaterializeResult, dg.AssetCheckResult]:
    """Challenger vs champion vs rule baseline on the challenger's held-out window."""
    client = mlflow.client()  # the resource's tracking AND registry store (a separate registry_uri included)
    challenger = reg.get_alias_version(uc.model_name, reg.CHALLENGER, client)
    if challenger is None:
        # <uc>_model trained nothing (too few labels, no animal with the signals it needs): the
        # champion (or the rule baseline) stays, and the check says so without failing the run
        champion = reg.get_alias_version(uc.model_name, reg.CHAMPION, client)
        rule_mv = reg.latest_version(uc.rule_model_name, client)
        if champion is None and rule_mv is None:
            raise dg.Failure(f"{uc.model_name} has no challenger and no rule baseline: materialise {uc.name}_model first")
        why = (client.get_registered_model(uc.rule_model_name).tags or {}).get(TAG_NOT_TRAINED, "never trained")
        reason = (f"{uc.model_name} has no challenger ({why}): "
                  f"{'champion v' + str(champion.version) if champion else 'the rule baseline'} stays")
        context.log.warning("%s promotion: %s", uc.name, reason)
        return (dg.MaterializeResult(metadata={"decision": "none", "reason": reason,
                                               "champion_after": str(champion.version) if champion else "none"}),
                dg.AssetCheckResult(check_name="champion_decision", passed=False,
                                    severity=dg.AssetCheckSeverity.WARN, description=reason,
                                    metadata={"reason": reason, "new_champion": "unchanged"}))
    run = client.get_run(challenger.run_id)
    p = run.data.params
    eval_days = list(pd.date_range(pd.Timestamp(p["eval_first_day"], tz="UTC"),
                                   pd.Timestamp(p["eval_last_day"], tz="UTC"), freq="D"))
    files = FeatureFiles(feature_store.base_path)
    evaluation, missing = _read_days(files, eval_days, uc)
    records = load_herd_records(herd_db.engine())

    champion = reg.get_alias_version(uc.model_name, reg.CHAMPION, client)
    rule_mv = reg.latest_version(uc.rule_model_name, client)
    if rule_mv is None:
        raise dg.Failure(f"no rule baseline {uc.rule_model_name} registered")
    candidates = {"challenger": challenger, "champion": champion, "baseline": rule_mv}
    metrics: dict[str, dict[str, float]] = {}
    for who, mv in candidates.items():
        if mv is None:
            continue
        loaded = reg.load_version(mv, alias=who, client=client)
        scores = score_frame(loaded.predict_scores, evaluation)
        metrics[who] = evaluate_scores(uc, evaluation, scores, records)
    decision = reg.decide_promotion(metrics["challenger"], metrics.get("champion"), metrics["baseline"],
                                    margin=config.margin)
    new_version = reg.apply_promotion(decision, model_name=uc.model_name, challenger_version=challenger.version,
                                      baseline_model_name=uc.rule_model_name, baseline_version=rule_mv.version,
                                      run_id=challenger.run_id, client=client)
    client.set_tag(challenger.run_id, "smx.promotion.dagster_run_id", context.run_id)
    after = reg.get_alias_version(uc.model_name, reg.CHAMPION, client)
    numbers = {k: _num(v) for k, v in decision.numbers.items()}
    meta = {
        "decision": "promoted" if decision.promote else "rejected",
        "winner": decision.winner,
        "reason": decision.reason,
        "first_time": decision.first_time,
        "numbers": numbers,
        "challenger_version": str(challenger.version),
        "champion_before": str(champion.version) if champion else "none",
        "champion_after": str(after.version) if after else "none",
        "baseline": f"{uc.rule_model_name} v{rule_mv.version}",
        "eval_days": f"{day_key(eval_days[0])}..{day_key(eval_days[-1])}",
        "eval_days_missing": missing,
        "challenger_run_id": challenger.run_id,
        "metrics": dg.MetadataValue.md(_md_metrics(metrics)),
    }
    context.log.info("%s promotion: %s", uc.name, decision.reason)
    # A rejected challenger is a normal outcome (WARN: the run stays green); a kept champion
    # that no longer beats its own rule baseline is not, and blocks (ERROR).
    champ_f1 = decision.numbers.get("champion_f1", math.nan)
    decayed = not decision.promote and not math.isnan(champ_f1) and champ_f1 < decision.numbers.get("baseline_f1", 0.0)
    check = dg.AssetCheckResult(
        check_name="champion_decision", passed=bool(decision.promote),
        severity=dg.AssetCheckSeverity.ERROR if decayed else dg.AssetCheckSeverity.WARN,
        description=decision.reason, metadata={"reason": decision.reason, "numbers": numbers,
                                               "new_champion": new_version or "unchanged"})
    return dg.MaterializeResult(metadata=meta), check


def _build(uc: UseCase) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    model_key = f"{uc.name}_model"

    @dg.asset(
        name=model_key, group_name=GROUP, owners=OWNERS, kinds={"scikitlearn", "mlflow"},
        deps=["training_features"],
        tags={"smx/use_case": uc.name},
        description=(f"{uc.description} Trains {uc.model_name} on a time-split window of training_features "
                     f"({len(uc.feature_columns)} features), logs one MLflow run (experiment {uc.experiment_name}), "
                     "registers a version and points 'challenger' at it."),
    )
    def model_asset(context: dg.AssetExecutionContext, config: TrainingConfig, feature_store: FeatureStoreResource,
                    herd_db: HerdDbResource, mlflow: MlflowResource) -> dg.MaterializeResult:
        return train_use_case(context, uc, config, feature_store, herd_db, mlflow)

    @dg.asset(
        name=f"{uc.name}_promotion", group_name=GROUP, owners=OWNERS, kinds={"mlflow"},
        deps=[model_key], tags={"smx/use_case": uc.name},
        check_specs=[dg.AssetCheckSpec(
            "champion_decision", asset=f"{uc.name}_promotion", blocking=True,
            description="Passes when champion moved (challenger beat champion and rule baseline by the margin, or "
                        "the first champion was chosen); fails with the reason otherwise.")],
        description=(f"Evaluates {uc.model_name}@challenger, @champion and the rule baseline on the challenger's "
                     "held-out days and moves 'champion' only on a real improvement."),
    )
    def promotion_asset(context: dg.AssetExecutionContext, config: PromotionConfig,
                        feature_store: FeatureStoreResource, herd_db: HerdDbResource, mlflow: MlflowResource):
        result, check = promote_use_case(context, uc, config, feature_store, herd_db, mlflow)
        yield result
        yield check

    return model_asset, promotion_asset


# Generated from the use-case catalog (a new use case gets its two assets without an edit here).
USE_CASE_ASSETS: list[dg.AssetsDefinition] = [asset for uc in all_use_cases() for asset in _build(uc)]
