"""Capacity model for 100,000 / 1,000,000 / 10,000,000 animals (issues 12 and 23, infra/README.md).

Every output is arithmetic on the inputs below; each input is either a figure measured by a
script in ``bench/`` (named in its ``source``) or a named assumption (``source`` starts with
"assumption"). Change an input when a measurement changes and paste the printed table into
infra/README.md ("Capacity model"); ``smx_assets_tests/infra/test_capacity_model.py`` fails
when the README's table no longer matches this script's output.

Run: ``python bench/capacity_model.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BUCKETS_PER_DAY = 144
MODELS_PER_RUN = 6  # three use cases x champion + shadow, loaded once per run (load_model_sets)
SCORES_PER_ANIMAL = 6  # one score per model and active animal and bucket
LINEAGE_ROWS_PER_RUN = 6  # one scoring_lineage row per use case and role (per shard run)
FLEETS = (100_000, 1_000_000, 10_000_000)

# InfluxData, "Hardware sizing guidelines" (InfluxDB OSS v1): a single node "may not support"
# more than these; past them InfluxDB Enterprise (a cluster) or one database per group of farms.
INFLUX_OSS_FIELD_WRITES_S = 750_000
INFLUX_OSS_MODERATE_QUERIES_S = 100
INFLUX_OSS_SERIES = 10_000_000


@dataclass(frozen=True)
class Input:
    value: float
    source: str


INPUTS: dict[str, Input] = {
    "shard_animals": Input(100_000, "choice: one shard per 100,000 animals, the largest single run "
                                    "bench_scoring.py measured within 2 GB (SMX_SCORING_SHARDS = fleet / 100,000)"),
    "run_cpu_s_100k": Input(15.3, "bench_scoring.py --herd-db postgres --animals 100000 on 2026-12-07 (score "
                                  "store): CPU seconds of the plain run, one process doing all the work (15.33 s); "
                                  "the Dagster run splits features over two processes (its own 12.1 s + the "
                                  "worker's, not counted)"),
    "run_wall_s_100k": Input(12.5, "bench_scoring.py --herd-db postgres --animals 100000 on 2026-12-07, one "
                                   "Dagster `scores` run, wall, best of 2 (12.48 / 13.17 s; load 1.0-1.2), "
                                   "features on two processes (SMX_SCORING_PROCESSES=2)"),
    "run_peak_rss_mb_100k": Input(1408, "bench_scoring.py --herd-db postgres --animals 100000 on 2026-12-07, "
                                        "peak RSS of the Dagster run's process (the plain run: 1,374 MB)"),
    "run_start_s": Input(12.0, "test_local_topology.py: queued to started, run-worker process start and "
                               "imports, 10-14 s (infra/README.md, Scaling out); a pod adds its start"),
    "pod_start_s": Input(20, "assumption: a Kubernetes Job pod scheduled on a node that has the image "
                             "(not measurable here: no cluster)"),
    "active_share": Input(0.98051, "bench_scoring.py --animals 100000: 98,051 of 100,000 animals active"),
    "sql_rows_per_run": Input(12, "bench_scoring.py --json sql_rows_written at 1,000 animals: rows a `scores` "
                                  "run writes to the herd DB besides its alerts (6 lineage rows inserted, 6 "
                                  "updated with their counts)"),
    "lineage_row_bytes": Input(753, "bench_retention.py: 174 scoring_lineage rows in 131,072 bytes on "
                                    "PostgreSQL 15, table + indexes"),
    "alert_bytes": Input(1552, "bench_retention.py: 2,328 alerts with their 76-column feature vector in "
                               "3,612,672 bytes on PostgreSQL 15, table + indexes + TOAST"),
    "alerts_per_animal_day": Input(0.06, "assumption: a heat every 21 days (0.048) plus calving and fever "
                                         "alerts, false alerts included (DOMAIN.md; the demo raises fewer)"),
    "alerts_kept_days": Input(365, "assumption: alerts are never deleted (SMX_RETENTION keeps them); the "
                                   "model shows one year of them"),
    "bytes_per_score": Input(2.71, "bench_scoring.py --json bytes_per_score: 6 buckets scored, their day "
                                   "compacted by the store's compaction, bytes at rest / scores held"),
    "predictions_days": Input(30, "setting SMX_RETENTION_PREDICTIONS_DAYS, default"),
    "readings_days": Input(60, "setting SMX_RETENTION_READINGS_DAYS, default"),
    "reading_fields": Input(4, "schema: temp_c, activity, interval_s, received_at (pH on some boluses: +1)"),
    "reading_cadence_s": Input(600, "assumption: every animal a bolus, one reading per 10 minutes "
                                    "(a 2-hour collar writes 12x fewer)"),
    "influx_bytes_per_reading": Input(17.0, "bench_scoring.py --animals 200000 prepare: InfluxDB data folder "
                                            "1,466 MB for ~86.2 M readings (444 buckets x 194,000 readings a "
                                            "bucket, the read cache's count over 157 of them)"),
    "feature_vector_bytes": Input(262.0, "bench_sharded_scoring.py --animals 200000: one bucket's stored vectors "
                                         "51.4 MB for 196,123 animals (Parquet)"),
    "features_days": Input(30, "setting SMX_RETENTION_FEATURES_DAYS, default"),
    "delivery_burst": Input(10, "assumption: deliveries come in bursts 10x the average rate "
                                "(gateways forwarding buffered readings)"),
    "rescore_share": Input(1.0, "assumption: every bucket re-scored once for late data (SMX_SCORING_RESCORE_HOURS "
                                "allows more; run keys from the data make a re-score only happen when data changed)"),
    "queries_per_run": Input(2, "influx_store read path with a warm read cache: one query for the new "
                                "bucket's readings, one for the write markers"),
    "climate_series_per_1000": Input(4, "simulator: 2 farms of 500 animals per 1,000, 2 climate sensors each"),
}


def model(animals: int, inputs: dict[str, Input] = INPUTS) -> dict[str, float]:
    """The capacity figures of one fleet size."""
    v = {k: i.value for k, i in inputs.items()}
    shards = math.ceil(animals / v["shard_animals"])
    per_shard = animals / shards
    scale = per_shard / 100_000
    runs_day = shards * BUCKETS_PER_DAY * (1 + v["rescore_share"])
    cpu_bucket = shards * v["run_cpu_s_100k"] * scale
    scores_bucket = animals * v["active_share"] * SCORES_PER_ANIMAL
    scores_kept = scores_bucket * BUCKETS_PER_DAY * v["predictions_days"]
    alerts_day = animals * v["alerts_per_animal_day"]
    sql_rows_day = runs_day * v["sql_rows_per_run"] + alerts_day
    lineage_kept = runs_day * LINEAGE_ROWS_PER_RUN * v["predictions_days"]
    readings_s = animals / v["reading_cadence_s"]
    field_writes_s = readings_s * v["reading_fields"]
    series = animals + animals / 1000 * v["climate_series_per_1000"] + 2
    return {
        "animals": animals,
        "shards": shards,
        "animals_per_shard": per_shard,
        "runs_per_day": runs_day,
        "pods_per_bucket": shards,
        "cpu_s_per_bucket": cpu_bucket,
        "cpu_s_per_day": cpu_bucket * BUCKETS_PER_DAY * (1 + v["rescore_share"]),
        "bucket_wall_s": v["pod_start_s"] + v["run_start_s"] + v["run_wall_s_100k"] * scale,
        "pod_memory_mb": v["run_peak_rss_mb_100k"],
        "sql_rows_per_bucket": shards * v["sql_rows_per_run"] + alerts_day / BUCKETS_PER_DAY,
        "sql_rows_per_day": sql_rows_day,
        "pg_gb_after_retention": (lineage_kept * v["lineage_row_bytes"]
                                  + alerts_day * v["alerts_kept_days"] * v["alert_bytes"]) / 1e9,
        "scores_per_bucket": scores_bucket,
        "score_files_per_day": runs_day,
        "score_store_gb_after_retention": scores_kept * v["bytes_per_score"] / 1e9,
        "influx_series": series,
        "influx_field_writes_s_avg": field_writes_s,
        "influx_field_writes_s_burst": field_writes_s * v["delivery_burst"],
        "influx_queries_s": runs_day * v["queries_per_run"] / 86_400,
        "features_gb_after_retention": animals * v["active_share"] * BUCKETS_PER_DAY * v["features_days"]
        * v["feature_vector_bytes"] / 1e9,
        "influx_gb_after_retention": readings_s * 86_400 * v["readings_days"] * v["influx_bytes_per_reading"] / 1e9,
        "mlflow_loads_per_day": runs_day * MODELS_PER_RUN,
    }


def _fmt(x: float) -> str:
    if x >= 100 or float(x).is_integer():
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


ROWS = [
    ("shards (`SMX_SCORING_SHARDS`)", "shards"),
    ("animals per shard run", "animals_per_shard"),
    ("scoring runs per day (new + one late re-score per bucket)", "runs_per_day"),
    ("pods per bucket (one per shard, concurrent)", "pods_per_bucket"),
    ("CPU-seconds per bucket", "cpu_s_per_bucket"),
    ("CPU-seconds per day (scoring)", "cpu_s_per_day"),
    ("launch to last shard done, s (pod start + run start + one shard's run)", "bucket_wall_s"),
    ("memory per pod, MB (peak RSS of one shard run)", "pod_memory_mb"),
    ("herd DB rows written per bucket (lineage + alerts; no score rows)", "sql_rows_per_bucket"),
    ("herd DB rows written per day", "sql_rows_per_day"),
    ("PostgreSQL after retention, GB (30 days of lineage + a year of alerts)", "pg_gb_after_retention"),
    ("scores per bucket (score store)", "scores_per_bucket"),
    ("score files written per day (one per shard run and bucket)", "score_files_per_day"),
    ("score store after retention, GB (30 days, compacted)", "score_store_gb_after_retention"),
    ("stored feature vectors after retention, GB", "features_gb_after_retention"),
    ("InfluxDB series (OSS guide: <= 10,000,000)", "influx_series"),
    ("InfluxDB field writes/s, average (OSS guide: <= 750,000)", "influx_field_writes_s_avg"),
    ("InfluxDB field writes/s, delivery bursts", "influx_field_writes_s_burst"),
    ("InfluxDB queries/s from scoring (OSS guide: <= 100 moderate)", "influx_queries_s"),
    ("InfluxDB readings size after retention, GB", "influx_gb_after_retention"),
    ("MLflow model loads per day (6 per run)", "mlflow_loads_per_day"),
]


def table(inputs: dict[str, Input] = INPUTS) -> str:
    """The Markdown table for infra/README.md."""
    figures = [model(a, inputs) for a in FLEETS]
    lines = ["| | " + " | ".join(f"{a:,} animals" for a in FLEETS) + " |",
             "|---|" + "---|" * len(FLEETS)]
    for label, key in ROWS:
        lines.append(f"| {label} | " + " | ".join(_fmt(f[key]) for f in figures) + " |")
    return "\n".join(lines)


def inputs_table(inputs: dict[str, Input] = INPUTS) -> str:
    """Where each input comes from (printed under the figures)."""
    lines = ["| input | value | source |", "|---|---|---|"]
    for name, i in inputs.items():
        lines.append(f"| `{name}` | {i.value:g} | {i.source} |")
    return "\n".join(lines)


def main() -> None:
    print(table())
    print()
    print(inputs_table())
    v = {k: i.value for k, i in INPUTS.items()}
    for a in FLEETS:
        m = model(a)
        over = [name for name, (x, limit) in {
            "series": (m["influx_series"], INFLUX_OSS_SERIES),
            "field writes/s (bursts)": (m["influx_field_writes_s_burst"], INFLUX_OSS_FIELD_WRITES_S),
            "queries/s": (m["influx_queries_s"], INFLUX_OSS_MODERATE_QUERIES_S),
        }.items() if x > limit]
        print(f"\n{a:,} animals: InfluxDB OSS single node "
              + (f"past the sizing guide on {', '.join(over)}" if over else "inside the sizing guide")
              + f"; a bucket's shards done {m['bucket_wall_s']:.0f} s after launch (budget 600 s; "
              f"{v['pod_start_s'] + v['run_start_s']:.0f} s of it is the pod's and run worker's start)")

if __name__ == "__main__":
    main()
