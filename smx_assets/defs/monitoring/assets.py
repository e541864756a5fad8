"""Daily monitoring assets: ``drift_report``, ``alert_volume``, ``model_performance``,
``scoring_operations``.

All are partitioned by UTC day with a single-run backfill policy (``smx demo`` and backfills
run a range of days as one run, looping inside), write nothing through the IO manager and
return ``MaterializeResult``. With a range, each asset check reports the worst day of the range
(Dagster takes one result per check and run) and lists every day in its metadata.

The statistics live in ``smx_assets.domain.monitoring`` (no Dagster there).
"""


import os
import tempfile
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd

from smx_assets import settings
from smx_assets.defs.partitions import daily_partitions, partition_days, partitioned_asset, per_partition_metadata
from smx_assets.domain.features.storage import TRAINING, FeatureFiles
from smx_assets.domain.model_registry.links import artifact_url, markdown_link, model_version_url, run_url
from smx_assets.domain.monitoring import alert_volume as av
from smx_assets.domain.monitoring import queries
from smx_assets.domain.monitoring.drift import DriftThresholds, attach_scores, reference_days, sample_rows
from smx_assets.domain.monitoring.drift import drift_report as run_drift
from smx_assets.domain.monitoring.latency import bucket_latencies, latency_figures
from smx_assets.domain.monitoring.lineage import RunInfo, champion_run_info, metric, run_info
from smx_assets.domain.monitoring.operations import RunRow, flatten_numbers, lag_minutes, readable, run_figures
from smx_assets.domain.monitoring.performance import PerformancePolicy, judged_metrics, live_performance, not_judged_reasons
from smx_assets.domain.monitoring.reports import log_drift_report
from smx_assets.domain.score_store import ScoreFiles, ScoreStore
from smx_assets.domain.time_grid import day_key
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.resources import FeatureStoreResource, HerdDbResource, MlflowResource
from smx_assets.settings import DriftSettings

GROUP = "monitoring"
OWNERS = ["team:ml-platform"]
DAY = pd.Timedelta(days=1)
ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
# A check that could not decide is a WARN whose first metadata entry and description say so
# (Dagster draws every result that did not pass as "Failed"; the words carry the difference).
NOT_JUDGED = "not judged"


# ---------------------------------------------------------------------------- drift_report


class DriftConfig(dg.Config):
    """Drift thresholds; unset fields come from SMX_DRIFT_* environment variables."""

    warn_share: float | None = None  # SMX_DRIFT_WARN_SHARE (default 0.2)
    fail_share: float | None = None  # SMX_DRIFT_FAIL_SHARE (default 0.35)
    p_value: float | None = None  # SMX_DRIFT_P_VALUE (default 0.01)
    sample_rows: int | None = None  # SMX_DRIFT_SAMPLE_ROWS (default 1000)
    fallback_days: int | None = None  # SMX_DRIFT_REFERENCE_DAYS: reference without lineage (default 7)
    columns: list[str] = []  # empty: every monitored feature column

    def thresholds(self, d: DriftSettings) -> DriftThresholds:
        return DriftThresholds(
            warn_share=self.warn_share if self.warn_share is not None else d.warn_share,
            fail_share=self.fail_share if self.fail_share is not None else d.fail_share,
            p_value=self.p_value if self.p_value is not None else d.p_value)


def _champion_links(lineage: dict[str, dict[str, Any]]) -> str:
    """Markdown: each champion the report scored with, linked to its MLflow version page and run."""
    base = settings.current().mlflow_ui_url
    rows = ["| use case | champion | training run | reference days from |", "|---|---|---|---|"]
    for uc, info in lineage.items():
        version = markdown_link(info["model"], model_version_url(base, info["name"], info["version"]))
        run = markdown_link(info["run_id"][:8], run_url(base, info["run_id"])) if info.get("run_id") else "none"
        rows.append(f"| {uc} | {version} | {run} | {info['training_days_source']} |")
    return "\n".join(rows)


@partitioned_asset(
    daily_partitions, group_name=GROUP, owners=OWNERS,
    deps=["training_features", "scores"],
    kinds={"evidently", "mlflow"},
    check_specs=[dg.AssetCheckSpec(
        "drift_share", asset="drift_report",
        description="The Evidently report's own figures: share of monitored feature columns whose KS p-value "
                    "is below SMX_DRIFT_P_VALUE. WARN at SMX_DRIFT_WARN_SHARE or when a champion's score "
                    "distribution drifted; ERROR (fails, triggers retraining) at SMX_DRIFT_FAIL_SHARE; WARN "
                    "with the reason when no day could be judged.")],
    description=(
        "Evidently data drift (KS p-values) between the champion's training reference (sampled rows of "
        "the training_features days logged on its MLflow run; the days before when none are logged) and "
        "the day's scored feature vectors, plus prediction drift of each champion's scores. Each day's "
        "self-contained HTML report is logged to MLflow (experiment `smx-monitoring`, one run per day, "
        "artifact `drift_reports/DAY.html`) and linked as `report_url` to the MLflow UI (SMX_MLFLOW_UI_URL)."
    ),
)
def drift_report(context: dg.AssetExecutionContext, config: DriftConfig, herd_db: HerdDbResource,
                 feature_store: FeatureStoreResource, mlflow: MlflowResource
                 ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    from smx_assets.domain.model_registry.registry import NoModelError, load_champion

    files = FeatureFiles(feature_store.base_path)
    drift_settings = settings.current().drift
    ui = settings.current().mlflow_ui_url
    thresholds = config.thresholds(drift_settings)
    sample = config.sample_rows or drift_settings.sample_rows
    fallback = config.fallback_days or drift_settings.reference_days
    client = mlflow.client()
    scorers, lineage, training_days = {}, {}, []
    for uc in all_use_cases():
        try:
            model = load_champion(uc.model_name, fallback_name=uc.rule_model_name, client=client,
                                  cache_dir=settings.current().model_cache_dir)  # as scoring loads it
        except NoModelError:
            continue
        scorers[uc.name] = model.predict_scores
        info = run_info(client, model.name, model.version, model.run_id)
        lineage[uc.name] = {"model": f"{model.name} v{model.version}", "name": model.name, "version": model.version,
                            "run_id": model.run_id, "training_days_source": info.days_source,
                            "n_training_days": len(info.training_days)}
        training_days = training_days or info.training_days
    engine = herd_db.engine()
    per_day: dict[str, dict[str, Any]] = {}
    per_key: dict[str, dict[str, Any]] = {}
    for day in partition_days(context):
        key = day_key(day)
        current = files.read_scored(day)
        if current is None or current.empty:
            per_day[key] = {"status": "no scored feature vectors", "level": "not judged"}
            per_key[key] = {"status": "not judged: no scored feature vectors for this day (was `scores` run?)"}
            context.log.warning("drift_report %s: no scored feature vectors (was `scores` run for that day?)", day.date())
            continue
        preds = queries.champion_predictions(ScoreStore(engine, ScoreFiles(feature_store.base_path)), day, day + DAY)
        current = attach_scores(current, preds)
        ref_days, ref_source = reference_days(day, training_days, fallback)
        seed = int(day.value // 10**9) % 2**31
        parts = [sample_rows(f, sample, seed + i) for i, f in enumerate(files.read(TRAINING, d) for d in ref_days)
                 if f is not None]
        if not parts:
            per_day[key] = {"status": f"no training_features for the reference days ({ref_source})",
                            "level": "not judged"}
            per_key[key] = {"status": f"not judged: no training_features for the reference days ({ref_source})"}
            context.log.warning("drift_report %s: no reference rows (%s)", day.date(), ref_source)
            continue
        reference = pd.concat(parts, ignore_index=True)
        with tempfile.TemporaryDirectory(prefix="smx-drift-") as tmp:
            html = os.path.join(tmp, f"{key}.html")
            result = run_drift(reference, current, columns=config.columns or None, scorers=scorers,
                               thresholds=thresholds, sample=sample, seed=seed, html_path=html)
            level, reason = result.verdict(thresholds)
            logged = None
            if result.html_path:
                logged = log_drift_report(client, html, key, {
                    "drift_share": result.share, "drifted_columns": result.n_drifted,
                    "monitored_columns": len(result.columns),
                    **{f"prediction_p_value_{uc}": v["p_value"] for uc, v in result.prediction.items()}},
                    tags={"smx.drift_level": level, "dagster_run_id": context.run_id})
        per_day[key] = {"share": round(result.share, 4), "n_drifted": result.n_drifted, "level": level,
                        "drifted_predictions": result.drifted_predictions, "reason": reason}
        md: dict[str, Any] = {
            "status": f"{level}: {reason}",
            "drift_share": dg.MetadataValue.float(float(result.share)),
            "drifted_columns_count": result.n_drifted,
            "monitored_columns_count": len(result.columns),
            "evidently_drifted_columns": f"{result.evidently_count} ({result.evidently_share:.3f}); tests: "
                                         + ", ".join(f"{k} {v}" for k, v in result.evidently_share_tests.items()),
            "drifted_columns": ", ".join(result.drifted_columns) or "none",
            "p_values": dg.MetadataValue.json({k: float(f"{v:.4g}") for k, v in sorted(result.p_values.items(),
                                                                                       key=lambda kv: kv[1])}),
            "prediction_drift": dg.MetadataValue.json(result.prediction),
            "drifted_predictions": ", ".join(result.drifted_predictions) or "none",
            "reference": f"{len(ref_days)} days {day_key(ref_days[0])}..{day_key(ref_days[-1])} "
                         f"({ref_source}), {result.n_reference} sampled rows",
            "current_rows_sampled": result.n_current,
            "report_seconds": dg.MetadataValue.float(round(result.report_seconds, 2)),
            "report_bytes": result.html_bytes,
        }
        if logged is not None:
            md["report_url"] = dg.MetadataValue.url(artifact_url(ui, logged.experiment_id, logged.run_id,
                                                                 logged.artifact_path))
            md["report_mlflow_run"] = dg.MetadataValue.url(run_url(ui, logged.run_id, logged.experiment_id))
            md["report_mlflow_run_id"] = logged.run_id
        per_key[key] = md
        context.log.info("drift_report %s: %s; %.1f s", day.date(), reason, result.report_seconds)

    per_partition_metadata(context, per_key)
    yield dg.MaterializeResult(metadata={
        "run_per_day": dg.MetadataValue.json(per_day),
        "champions": dg.MetadataValue.md(_champion_links(lineage)) if lineage else "no champion or rule baseline",
        "thresholds": {"warn_share": thresholds.warn_share, "fail_share": thresholds.fail_share,
                       "p_value": thresholds.p_value, "test": "Kolmogorov-Smirnov (Evidently ks)"},
    })

    judged = {d: v for d, v in per_day.items() if "share" in v}
    if not judged:
        reason = "not judged: " + "; ".join(f"{d}: {v['status']}" for d, v in per_day.items())
        yield dg.AssetCheckResult(check_name="drift_share", passed=False, severity=WARN, description=reason,
                                  metadata={"judgement": NOT_JUDGED, "reason": reason, "per_day": per_day})
        return
    order = {"ok": 0, "warn": 1, "fail": 2}
    worst_day, worst = max(judged.items(), key=lambda kv: (order[kv[1]["level"]], kv[1]["share"]))
    level = worst["level"]
    skipped = sorted(set(per_day) - set(judged))
    description = f"{worst_day}: {level}: {worst['reason']}" + (
        f"; not judged: {', '.join(skipped)}" if skipped else "")
    yield dg.AssetCheckResult(
        check_name="drift_share", passed=level == "ok", severity=ERROR if level == "fail" else WARN,
        metadata={"worst_day": worst_day, "drift_share": dg.MetadataValue.float(float(worst["share"])),
                  "level": level, "reason": worst["reason"], "warn_share": thresholds.warn_share,
                  "fail_share": thresholds.fail_share, "p_value": thresholds.p_value,
                  "drifted_predictions": ", ".join(worst["drifted_predictions"]) or "none",
                  "per_day": {d: v["share"] for d, v in judged.items()}},
        description=description)


# ---------------------------------------------------------------------------- alert_volume


class VolumeConfig(dg.Config):
    jump_ratio: float = 3.0
    collapse_ratio: float = 3.0
    alpha: float = 0.01
    trailing_days: int = 14
    min_history_days: int = 3


@partitioned_asset(
    daily_partitions, group_name=GROUP, owners=OWNERS,
    deps=["scores"],
    kinds={"sqlalchemy"},
    check_specs=[dg.AssetCheckSpec(
        "alert_volume_normal", asset="alert_volume",
        description="Alerts per use case within the expected band: a jump (x3 and Poisson p < 0.01) or a "
                    "collapse (/3 and p < 0.01) against the trailing per-animal rate fails the check.")],
    description="Alerts raised per use case per day, per animal scored, against the trailing mean rate "
                "(or the champion's training rate while history is short).",
)
def alert_volume(context: dg.AssetExecutionContext, config: VolumeConfig, herd_db: HerdDbResource,
                 feature_store: FeatureStoreResource, mlflow: MlflowResource
                 ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    policy = av.VolumePolicy(config.jump_ratio, config.collapse_ratio, config.alpha, config.trailing_days,
                             config.min_history_days)
    engine = herd_db.engine()
    days = partition_days(context)
    scores = ScoreStore(engine, ScoreFiles(feature_store.base_path))
    history = pd.concat([queries.daily_volume(engine, scores, d) for d in
                         pd.date_range(days[0] - policy.trailing_days * DAY, days[-1], freq="D")], ignore_index=True)
    client = mlflow.client()
    training: dict[str, dict[str, float]] = {}
    names = {uc.name: uc.model_name for uc in all_use_cases()}
    for name, model_name in names.items():
        info = champion_run_info(client, model_name)
        if info is not None:
            training[name] = {"n_alerts": metric(info.metrics, "n_alerts"), "cow_days": metric(info.metrics, "cow_days")}
    verdicts: dict[str, dict[str, dict[str, Any]]] = {}
    flagged: list[str] = []
    judged = 0
    unjudged: set[str] = set()
    per_key: dict[str, dict[str, Any]] = {}
    for day in days:
        today = history[history["day"] == day]
        verdicts[day_key(day)] = {}
        metadata: dict[str, Any] = {}
        for name in sorted(set(names) | set(today["use_case"])):
            row = today[today["use_case"] == name]
            observed = int(row["alerts"].sum())
            animals = int(row["animals"].sum())
            rate, source = av.expected_rate(history, name, day, policy, training.get(name))
            v = av.judge(name, observed, animals, rate, source, policy)
            verdicts[day_key(day)][name] = v.as_metadata()
            if v.status in ("jump", "collapse"):
                flagged.append(f"{day_key(day)} {name}: {v.status} ({observed} alerts, expected {v.expected:.1f})")
            judged += v.status != "no_baseline"
            if v.status == "no_baseline":
                unjudged.add(name)
            metadata[f"alerts_{name}"] = observed
            metadata[f"animals_scored_{name}"] = animals
            metadata[f"alerts_per_100_animals_{name}"] = dg.MetadataValue.float(
                100.0 * observed / animals if animals else 0.0)
            metadata[f"status_{name}"] = v.status
            if v.expected is not None:
                metadata[f"expected_{name}"] = dg.MetadataValue.float(float(v.expected))
        metadata["verdicts"] = dg.MetadataValue.json(verdicts[day_key(day)])
        per_key[day_key(day)] = metadata
    per_partition_metadata(context, per_key)
    yield dg.MaterializeResult(metadata={"run_verdicts": dg.MetadataValue.json(verdicts)})
    if flagged:
        description = "; ".join(flagged)
    elif not judged:
        description = ("not judged: no use case had scored animals and an expected rate (trailing days or the "
                       "champion's training run) on " + ", ".join(verdicts))
    else:
        description = "every use case with a baseline within its expected band" + (
            f"; not judged (nothing scored or no expected rate yet): {', '.join(sorted(unjudged))}" if unjudged else "")
    yield dg.AssetCheckResult(check_name="alert_volume_normal", passed=not flagged and judged > 0,
                              severity=ERROR if flagged else WARN,
                              metadata={"judgement": "flagged" if flagged else ("judged" if judged else NOT_JUDGED),
                                        "flagged": flagged or ["none"], "judged_use_case_days": judged,
                                        "reason": description},
                              description=description)


# ----------------------------------------------------------------------- model_performance


class PerformanceConfig(dg.Config):
    window_days: int = 14
    label_delay_days: int = 4
    tolerance: float = 0.15
    min_events: int = 5
    min_alerts: int = 5


@partitioned_asset(
    daily_partitions, group_name=GROUP, owners=OWNERS,
    deps=["scores", "herd_records"],
    kinds={"sqlalchemy", "mlflow"},
    check_specs=[dg.AssetCheckSpec(
        "performance_vs_training", asset="model_performance",
        description="Live precision/sensitivity (labels arrived by the day's end) not more than `tolerance` "
                    "below the metrics logged at training, judged only with enough labelled events/alerts.")],
    description="Precision, sensitivity and lead time per use case and model version from the labels that "
                "had arrived by the end of the day (records' recorded_at, feedback given_at), over a window "
                "ending `label_delay_days` before, compared with the training run's metrics.",
)
def model_performance(context: dg.AssetExecutionContext, config: PerformanceConfig, herd_db: HerdDbResource,
                      feature_store: FeatureStoreResource, mlflow: MlflowResource
                      ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    from smx_assets.domain.features.profile import load_herd_records

    policy = PerformancePolicy(config.window_days, config.label_delay_days, config.tolerance, config.min_events,
                               config.min_alerts)
    engine = herd_db.engine()
    records = load_herd_records(engine)
    client = mlflow.client()
    run_cache: dict[tuple[str, str], RunInfo] = {}
    results: dict[str, dict[str, Any]] = {}
    degraded: list[str] = []
    judged: list[str] = []
    support: list[str] = []
    per_key: dict[str, dict[str, Any]] = {}
    scored_days = ScoreFiles(feature_store.base_path).days()  # to say where the scores are when none is in the window
    days = partition_days(context)
    for day in days:
        cutoff = day + DAY
        lo, hi = policy.window(cutoff)
        day_reasons: list[str] = []
        alerts = queries.alerts_between(engine, lo, hi)
        feedback = queries.feedback_for(engine, [int(i) for i in alerts["id"]])
        results[day_key(day)] = {}
        metadata: dict[str, Any] = {"window": f"{lo:%Y-%m-%d %H:%M}..{hi:%Y-%m-%d %H:%M} UTC"}
        for uc in all_use_cases():
            cov, animals = queries.coverage(ScoreStore(engine, ScoreFiles(feature_store.base_path)), uc.name, lo, hi)
            ua = alerts[alerts["use_case"] == uc.name]
            training: dict[str, dict[str, float]] = {}
            for version, run_id in ua[["model_version", "mlflow_run_id"]].drop_duplicates().itertuples(index=False):
                key = (uc.model_name, str(version))
                if key not in run_cache:
                    run_cache[key] = run_info(client, uc.model_name, str(version), run_id)
                m = run_cache[key].metrics
                training[str(version)] = {"sensitivity": metric(m, "sensitivity"), "precision": metric(m, "precision"),
                                          "lead_time_median_h": metric(m, "lead_time_median_h")}
            perf = live_performance(use_case=uc.name, kind=uc.event_kind, records=records, alerts=ua, feedback=feedback,
                                    coverage=cov, cutoff=cutoff, policy=policy, training_metrics=training,
                                    scored_animals=animals)
            results[day_key(day)][uc.name] = {p.model_version: p.as_metadata() for p in perf}
            day_reasons += not_judged_reasons(uc.name, perf, policy, (lo, hi), scored_days)
            for p in perf:
                degraded += [f"{day_key(day)} {uc.name} v{p.model_version}: {d}" for d in p.degraded]
                judged += [f"{day_key(day)} {uc.name} v{p.model_version} {m}" for m in judged_metrics(p, policy)]
                for name in ("precision", "sensitivity", "lead_time_median_h", "precision_feedback"):
                    v = getattr(p, name)
                    if v == v:  # not NaN
                        metadata[f"{uc.name}_{name}"] = dg.MetadataValue.float(float(v))
                metadata[f"{uc.name}_labelled_events"] = p.n_events
                metadata[f"{uc.name}_alerts"] = p.n_alerts
                metadata[f"{uc.name}_version"] = p.model_version
        metadata["per_use_case"] = dg.MetadataValue.json(results[day_key(day)])
        day_judged = [j for j in judged if j.startswith(day_key(day))]
        support += [f"{day_key(day)} {r}" if len(days) > 1 else r for r in day_reasons]
        metadata["status"] = (f"judged: {', '.join(j.split(' ', 1)[1] for j in day_judged)}" if day_judged else
                              "not judged: " + "; ".join(day_reasons))
        per_key[day_key(day)] = metadata
    per_partition_metadata(context, per_key)
    yield dg.MaterializeResult(metadata={
        "window_rule": f"{policy.window_days} days ending {policy.label_delay_days} days before each day's end",
        "run_per_day": dg.MetadataValue.json(results)})
    if degraded:
        description = "; ".join(degraded)
    elif not judged:
        # Nothing had enough labels to compare: say so (WARN), never "passed", with the reason
        # of each use case (no scores in the window, too few labelled events or alerts).
        description = "not judged: " + "; ".join(dict.fromkeys(support))
    else:
        description = f"no version clearly below its training metrics ({len(judged)} comparisons)"
    yield dg.AssetCheckResult(check_name="performance_vs_training", passed=not degraded and bool(judged),
                              severity=ERROR if degraded else WARN,
                              metadata={"judgement": "degraded" if degraded else ("judged" if judged else NOT_JUDGED),
                                        "degraded": degraded or ["none"], "judged": judged or ["none"],
                                        "reason": description},
                              description=description)


# ---------------------------------------------------------------------- scoring_operations


@partitioned_asset(
    daily_partitions, group_name=GROUP, owners=OWNERS,
    deps=["scores"],
    kinds={"dagster", "sqlalchemy"},
    description="Operational figures per day, as plottable numbers: close-to-scored latency per bucket (first "
                "scoring run after the bucket's close, ranged catch-up runs included; p50/p90/max and runs per bucket), "
                "scoring lag (scoring_lineage.scored_at and "
                "alerts.created_at after the bucket's end, live runs only) and Dagster runs, failures and "
                "durations of the day (from the instance's run records).",
)
def scoring_operations(context: dg.AssetExecutionContext, herd_db: HerdDbResource) -> dg.MaterializeResult:
    engine = herd_db.engine()
    per_day: dict[str, Any] = {}
    per_key: dict[str, dict[str, Any]] = {}
    for day in partition_days(context):
        lineage = queries.champion_runs(engine, day)
        preds, alerts = queries.lag_rows(engine, day, lineage)
        score_lag = lag_minutes(preds, "scored_at")
        alert_lag = lag_minutes(alerts, "created_at")
        records = context.instance.get_run_records(filters=dg.RunsFilter(
            created_after=day.to_pydatetime(), created_before=(day + DAY).to_pydatetime()))
        runs = run_figures(RunRow(r.dagster_run.job_name, r.dagster_run.status.value,
                                  r.start_time, r.end_time) for r in records)
        close_to_scored = latency_figures(bucket_latencies(lineage, day, day + DAY))
        per_day[day_key(day)] = {"close_to_scored_min": close_to_scored, "scoring_lag_min": score_lag,
                                 "alert_lag_min": alert_lag, "runs": runs}
        figures = readable({**flatten_numbers("close_to_scored_min", close_to_scored),
                            **flatten_numbers("scoring_lag_min", score_lag), **flatten_numbers("alert_lag_min", alert_lag),
                            **flatten_numbers("runs", {k: v for k, v in runs.items() if k != "per_job"})})
        per_key[day_key(day)] = {k: dg.MetadataValue.int(v) if isinstance(v, int) else dg.MetadataValue.float(v)
                                 for k, v in figures.items()} | {"per_job": dg.MetadataValue.json(runs["per_job"])}
    per_partition_metadata(context, per_key)
    return dg.MaterializeResult(metadata={"run_per_day": dg.MetadataValue.json(per_day)})


# --------------------------------------------------------------------------- alerts_report

MAX_REPORT_ROWS = 200  # a Markdown table beyond this is no longer read; the count says how many more


def _alerts_markdown(frame: pd.DataFrame, ui: str) -> str:
    rows = ["| alert | farm | cow | time (UTC) | use case | score | threshold | model version | look at it |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in frame.head(MAX_REPORT_ROWS).itertuples(index=False):
        version = markdown_link(f"{r.model_name} v{r.model_version}", model_version_url(ui, r.model_name, r.model_version))
        rows.append(f"| {r.id} | {r.farm} | {r.cow} | {r.bucket_start:%Y-%m-%d %H:%M} | {r.use_case} | {r.score:.3f} | "
                    f"{r.threshold:.3f} | {version} | `smx explain {r.id} --plot alert-{r.id}.png` |")
    if len(frame) > MAX_REPORT_ROWS:
        rows.append(f"| ... | {len(frame) - MAX_REPORT_ROWS} more | | | | | | | `smx alerts` lists them all |")
    return "\n".join(rows)


@partitioned_asset(
    daily_partitions, group_name=GROUP, owners=OWNERS,
    deps=["scores"],
    kinds={"sqlalchemy"},
    description="The day's alerts as a table a farm advisor can read: farm and cow, time, use case, score and threshold, "
                "the model version (linked to the MLflow UI) and the `smx explain ID --plot FILE.png` command "
                "that draws the cow's temperature, activity, score and farm records around each alert.",
)
def alerts_report(context: dg.AssetExecutionContext, herd_db: HerdDbResource) -> dg.MaterializeResult:
    engine = herd_db.engine()
    ui = settings.current().mlflow_ui_url
    per_key: dict[str, dict[str, Any]] = {}
    totals: dict[str, int] = {}
    for day in partition_days(context):
        frame = queries.alerts_with_cows(engine, day, day + DAY)
        counts = {str(k): int(v) for k, v in frame["use_case"].value_counts().sort_index().items()}
        totals[day_key(day)] = len(frame)
        per_key[day_key(day)] = {
            "alerts": len(frame),
            **{f"alerts_{uc.name}": counts.get(uc.name, 0) for uc in all_use_cases()},
            "report": dg.MetadataValue.md(_alerts_markdown(frame, ui) if len(frame)
                                          else f"No alert on {day_key(day)}."),
        }
        context.log.info("alerts_report %s: %d alerts %s", day.date(), len(frame), counts)
    per_partition_metadata(context, per_key)
    return dg.MaterializeResult(metadata={"run_alerts_per_day": totals})
