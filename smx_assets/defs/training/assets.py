"""Training and promotion as assets: ``<uc>_model`` and ``<uc>_promotion`` for every use case.

``<uc>_model`` reads a window of ``training_features`` days, gathers its evidence by
cross-validation by animal over the whole window (out-of-fold scores, evaluated event-level
with the use case's alert policy, the rule baseline on the same rows; why: a held-out week of
a 200-cow herd holds 0-2 calvings), fits the use case's model on the whole window on
farm-record labels, and logs everything to ONE MLflow run (params, metrics, dataset lineage, code version, the model with
signature and input example; the rule baseline too when this code version has not registered
it yet). It registers a new version of ``smx-<uc>`` and points ``challenger`` at it.

``<uc>_promotion`` compares the challenger's out-of-fold scores, the champion and the rule
baseline on the same rows (the challenger's window; against an ML champion only the days after
the champion's own training window), requires ``uc.min_evaluation_events`` events, decides
with ``model_registry.decide_promotion`` and moves ``champion`` with ``apply_promotion``.
The decision is tagged on the challenger's training run
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

from smx_assets import settings
from smx_assets.domain import model_registry as reg
from smx_assets.domain import run_hygiene
from smx_assets.domain.features import KEY_COLUMNS, LABEL_COLUMNS
from smx_assets.domain.features.profile import FarmRecords, load_herd_records
from smx_assets.domain.features.storage import TRAINING, FeatureFiles
from smx_assets.domain.model_registry.links import model_version_url, run_url
from smx_assets.domain.time_grid import day_key
from smx_assets.domain.use_cases.base import UseCase, signal_gate
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.domain.use_cases.cross_validation import DEFAULT_FOLDS, cross_validate, evidence, rows_after
from smx_assets.domain.use_cases.training import (
    NotEnoughData,
    check_trainable,
    evaluate_scores,
    feature_list_hash,
    fit_model,
    score_frame,
    too_few_labels,
)
from smx_assets.resources import FeatureStoreResource, HerdDbResource, MlflowResource
from smx_assets.settings import code_version

GROUP = "training"
OWNERS = ["team:ml-platform"]
DAY = pd.Timedelta(days=1)
RULE_ARTIFACT = "rule_model"
TAG_NOT_TRAINED = "smx.not_trained_reason"  # on smx-<uc>-rule: why the last training kept the rule
CV_SCORES = "cv_scores"  # out-of-fold scores of each training run, read back by the promotion


class TrainingConfig(dg.Config):
    """Which ``training_features`` days train and evaluate.

    The window is the ``train_days + gap_days + eval_days`` days ending at ``end_day``
    (default: the newest materialised day). The defaults (36 + 2 + 7 = 45 days) fit the demo
    herd; missing days inside the window are skipped and listed in the metadata. The model is
    fitted on the whole window; its evidence is cross-validation by animal over the same window
    (``use_cases.cross_validation``: every event counts, none is seen by the model scoring it).
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
    cv_folds: int = DEFAULT_FOLDS  # evidence: cross-validation by animal over the whole window


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
    return frame.to_markdown(floatfmt=".3f").replace(" nan ", " n/a ")


def _num(v: Any) -> float | int | str:
    """Numbers for people: an undefined metric (no events, no alerts) says so instead of NaN."""
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    return v


def _f1(metrics: dict[str, float]) -> str:
    f1 = metrics.get("f1", math.nan)
    return "n/a" if f1 is None or math.isnan(f1) else f"{f1:.3f}"


def _links(run_id: str | None = None, experiment_id: str | None = None,
           **versions: tuple[str, str | int] | None) -> dict[str, dg.MetadataValue]:
    """MLflow UI links (``SMX_MLFLOW_UI_URL``) for a run and named model versions."""
    base = settings.current().mlflow_ui_url
    out: dict[str, dg.MetadataValue] = {}
    if run_id:
        out["mlflow_run"] = dg.MetadataValue.url(run_url(base, run_id, experiment_id))
    for key, nv in versions.items():
        if nv is not None:
            out[key] = dg.MetadataValue.url(model_version_url(base, nv[0], nv[1]))
    return out


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
    n_animals = int(usable["animal_id"].nunique())
    if n_animals < config.cv_folds:
        return _rule_stays_champion(context, uc, client, frame, days,
                                    f"{n_animals} animals in the window; cross-validation by animal needs at least "
                                    f"{config.cv_folds}; the rule baseline stays champion")
    why = too_few_labels(uc, usable, usable.iloc[:0], records, config.min_train_label_events, 0)
    if why:
        return _rule_stays_champion(context, uc, client, frame, days, why)
    try:
        check_trainable(uc, usable, records)
    except NotEnoughData as exc:  # label events but no positive row with a known label
        return _rule_stays_champion(context, uc, client, frame, days, f"{exc}; the rule baseline stays champion")
    frame = usable
    tags = {"dagster_run_id": context.run_id, reg.TAG_USE_CASE: uc.name, "smx.asset": context.asset_key.to_user_string(),
            "smx.run_kind": "training"}
    t_start = time.perf_counter()
    with reg.training_run(uc.experiment_name, run_name=f"{uc.name}-{context.run_id[:8]}", tags=tags, client=client) as run:
        import mlflow as mlf

        run_id = run.info.run_id
        lineage = {"data.partition_first": day_key(days[0]), "data.partition_last": day_key(days[-1]),
                   "data.days_missing": ",".join(missing)[:500] or "none", "data.rows": len(frame),
                   "data.feature_list_hash": feature_list_hash(uc.feature_columns),
                   "data.n_features": len(uc.feature_columns), "data.features_path": files.display_base,
                   "code_version": code_version(), "eval.method": "cross-validation by animal",
                   "eval.folds": config.cv_folds, "eval.min_events": uc.min_evaluation_events}
        mlf.log_params({**lineage, **{f"policy.{k}": v for k, v in uc.alert_policy.as_params().items()},
                        "config.train_days": config.train_days, "config.eval_days": config.eval_days,
                        "config.gap_days": config.gap_days})
        mlf.log_text("\n".join(uc.feature_columns), "features.txt")

        cv = cross_validate(uc, frame, records, k=config.cv_folds,
                            negatives_per_positive=config.negatives_per_positive, seed=config.seed)
        scores_url = files.write(cv.scores, CV_SCORES, days[-1], table=f"{uc.name}-{run_id}")
        mlf.log_param("eval.cv_scores", scores_url)
        ml_metrics, rule_metrics = cv.challenger, cv.baseline
        mlf.log_metrics({f"eval.{k}": v for k, v in ml_metrics.items() if not math.isnan(v)})
        mlf.log_metrics({f"eval.baseline.{k}": v for k, v in rule_metrics.items() if not math.isnan(v)})

        fit = fit_model(uc, frame, records, negatives_per_positive=config.negatives_per_positive, seed=config.seed)
        mlf.log_params(fit.params)
        mlf.log_metrics({f"train.{k}": float(v) for k, v in fit.counts.items()} | {"train.fit_seconds": fit.seconds})

        example = frame[list(uc.feature_columns)].astype("float64").head(50)
        rule_version = _rule_version_for_code(uc, client)
        if rule_version is None:  # once per code version: the rule is code, not data
            reg.log_rule_model(uc.rule_baseline, example, name=RULE_ARTIFACT)
        reg.log_sklearn_model(fit.model, example, tags={reg.TAG_USE_CASE: uc.name})
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
    ev = evidence(uc, ml_metrics)
    summary = (f"F1 {_f1(ml_metrics)} (rule {_f1(rule_metrics)}) on {ev.n_events} {uc.name} events, "
               f"{config.cv_folds}-fold cross-validation by animal" if ev.enough else ev.message)
    context.log.info("%s: v%s trained in %.1f s, %s", uc.name, version, seconds, summary)
    meta: dict[str, Any] = {
        "model": f"{uc.model_name} v{version} (alias challenger)",
        "mlflow_run_id": run_id,
        **_links(run_id, run.info.experiment_id, model_version_link=(uc.model_name, version),
                 rule_baseline_link=(uc.rule_model_name, rule_version)),
        "registered_version": version,
        "rule_baseline": f"{uc.rule_model_name} v{rule_version}",
        "partition_range": f"{day_key(days[0])}..{day_key(days[-1])}",
        "days_missing": missing,
        "rows": fit.counts,
        "feature_list_hash": feature_list_hash(uc.feature_columns),
        "code_version": code_version(),
        "train_seconds": dg.MetadataValue.float(round(fit.seconds, 2)),
        "evaluation": f"{config.cv_folds}-fold cross-validation by animal over {day_key(days[0])}..{day_key(days[-1])}",
        "eval_events": ev.n_events,
        "eval_evidence": "enough" if ev.enough else ev.message,
        "eval_metrics": dg.MetadataValue.md(_md_metrics({"challenger": ml_metrics, "rule baseline": rule_metrics})),
    }
    if ev.enough:
        meta["eval_f1"] = dg.MetadataValue.float(float(ml_metrics["f1"]))
        meta["eval_baseline_f1"] = dg.MetadataValue.float(float(rule_metrics["f1"]))
    return dg.MaterializeResult(metadata=meta)


def _evaluation_rows(files: FeatureFiles, uc: UseCase, run: Any, champion: Any, champion_kind: str,
                     client: Any) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(rows, challenger out-of-fold scores on them, where) for the promotion's comparison.

    Against the rule baseline (and a rule champion) every row of the challenger's window
    counts. Against an ML champion only the rows after the champion's own training window do:
    on the rows it was fitted on, a champion would look better than it is.
    """
    p = run.data.params
    days = list(pd.date_range(pd.Timestamp(p["data.partition_first"], tz="UTC"),
                              pd.Timestamp(p["data.partition_last"], tz="UTC"), freq="D"))
    frame, _ = _read_days(files, days, uc)
    with files.fs.open(p["eval.cv_scores"].replace(files.base_path, files.root, 1), "rb") as fh:
        stored = pd.read_parquet(fh)
    # By key, not by position: the days may have been re-materialised since the training run.
    keys = frame[["animal_id", "bucket_start"]].assign(
        bucket_start=lambda d: pd.to_datetime(d["bucket_start"], utc=True))
    oof = keys.merge(stored[["animal_id", "bucket_start", "score"]], on=["animal_id", "bucket_start"], how="left")
    known = oof["score"].notna().to_numpy()
    frame, oof = frame.loc[known].reset_index(drop=True), oof.loc[known].reset_index(drop=True)
    where = f"the challenger's window {day_key(days[0])}..{day_key(days[-1])}"
    if champion is not None and champion_kind == "ml" and champion.run_id:
        last = client.get_run(champion.run_id).data.params.get("data.partition_last")
        keep = rows_after(frame, last)
        frame, oof = frame.loc[keep].reset_index(drop=True), oof.loc[keep].reset_index(drop=True)
        where = f"the days after champion v{champion.version}'s training window (after {last})"
    return frame, oof[["animal_id", "bucket_start", "score"]], where


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
        **_links(run.info.run_id, run.info.experiment_id, rule_baseline_link=(uc.rule_model_name, rule_version),
                 champion_link=(uc.model_name, champion.version) if champion else None),
    })


def promote_use_case(context: dg.AssetExecutionContext, uc: UseCase, config: PromotionConfig,
                     feature_store: FeatureStoreResource, herd_db: HerdDbResource,
                     mlflow: MlflowResource) -> tuple[dg.MaterializeResult, dg.AssetCheckResult]:
    """Challenger (its out-of-fold scores) vs champion vs rule baseline, on enough events."""
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
                                               "champion_after": str(champion.version) if champion else "none",
                                               **_links(champion_link=(uc.model_name, champion.version)
                                                        if champion else None,
                                                        baseline_link=(uc.rule_model_name, rule_mv.version)
                                                        if rule_mv else None)}),
                dg.AssetCheckResult(check_name="champion_decision", passed=False,
                                    severity=dg.AssetCheckSeverity.WARN, description=reason,
                                    metadata={"reason": reason, "new_champion": "unchanged"}))
    run = client.get_run(challenger.run_id)
    if "eval.cv_scores" not in run.data.params:
        raise dg.Failure(f"{uc.model_name} v{challenger.version} has no cross-validation evidence: retrain it")
    files = FeatureFiles(feature_store.base_path)
    records = load_herd_records(herd_db.engine())
    champion = reg.get_alias_version(uc.model_name, reg.CHAMPION, client)
    champion_kind = ((champion.tags or {}).get(reg.TAG_KIND) or "ml") if champion is not None else ""
    rule_mv = reg.latest_version(uc.rule_model_name, client)
    if rule_mv is None:
        raise dg.Failure(f"no rule baseline {uc.rule_model_name} registered")
    evaluation, oof, where = _evaluation_rows(files, uc, run, champion, champion_kind, client)

    metrics: dict[str, dict[str, float]] = {"challenger": evaluate_scores(uc, evaluation, oof, records)}
    for who, mv in (("champion", champion), ("baseline", rule_mv)):
        if mv is None:
            continue
        loaded = reg.load_version(mv, alias=who, client=client)
        metrics[who] = evaluate_scores(uc, evaluation, score_frame(loaded.predict_scores, evaluation), records)
    ev = evidence(uc, metrics["challenger"], where)
    if ev.enough:
        decision = reg.decide_promotion(metrics["challenger"], metrics.get("champion"), metrics["baseline"],
                                        margin=config.margin)
    else:
        decision = reg.insufficient_evidence(ev.message, first_time=champion is None)
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
        "evidence": f"{ev.n_events} {uc.name} events in {where} (at least {ev.min_events} needed)",
        "eval_events": ev.n_events,
        "challenger_version": str(challenger.version),
        "champion_before": str(champion.version) if champion else "none",
        "champion_after": str(after.version) if after else "none",
        "baseline": f"{uc.rule_model_name} v{rule_mv.version}",
        "challenger_run_id": challenger.run_id,
        **_links(challenger.run_id, None, challenger_link=(uc.model_name, challenger.version),
                 champion_link=(uc.model_name, after.version) if after else None,
                 baseline_link=(uc.rule_model_name, rule_mv.version)),
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
                                               "evidence": meta["evidence"],
                                               "new_champion": new_version or "unchanged"})
    return dg.MaterializeResult(metadata=meta), check


def _build(uc: UseCase) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    model_key = f"{uc.name}_model"

    @dg.asset(
        name=model_key, group_name=GROUP, owners=OWNERS, kinds={"scikitlearn", "mlflow"},
        deps=["training_features"],
        tags={"smx/use_case": uc.name},
        description=(f"{uc.description} Trains {uc.model_name} on a window of training_features, "
                     "evaluated by cross-validation by animal "
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
        description=(f"Compares {uc.model_name}@challenger (its cross-validated scores), @champion and the rule "
                     f"baseline on at least {uc.min_evaluation_events} events and moves 'champion' only on a real "
                     "improvement; with fewer events it says so and decides nothing new."),
    )
    def promotion_asset(context: dg.AssetExecutionContext, config: PromotionConfig,
                        feature_store: FeatureStoreResource, herd_db: HerdDbResource, mlflow: MlflowResource):
        result, check = promote_use_case(context, uc, config, feature_store, herd_db, mlflow)
        yield result
        yield check

    return model_asset, promotion_asset


# Generated from the use-case catalog (a new use case gets its two assets without an edit here).
USE_CASE_ASSETS: list[dg.AssetsDefinition] = [asset for uc in all_use_cases() for asset in _build(uc)]
