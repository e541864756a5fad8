"""The feature layer as daily assets: ``animal_profiles``, ``sensor_baselines``, ``training_features``.

All three are partitioned by UTC day (the shared ``daily_partitions``) and use a single-run
backfill policy: a backfill over a date range is one run that loops over the days inside, so
the per-run overhead is paid once and history is read once per day instead of once per
partition launch. Each writes its Parquet files itself (one per day, via fsspec under
``FeatureStoreResource.base_path``) and returns ``MaterializeResult``: the default IO manager
cannot store a multi-partition output.

The feature computation itself lives in ``smx_assets.domain.features`` (no Dagster there);
this module only moves data between the stores and records metadata for the UI.
"""


import time
from collections.abc import Iterator

import dagster as dg
import numpy as np
import pandas as pd

from smx_assets import settings
from smx_assets.defs.partitions import daily_partitions, partition_days, partitioned_asset, per_partition_metadata
from smx_assets.domain import progress
from smx_assets.domain.features import FEATURE_COLUMNS, FEATURE_DOC, KEY_COLUMNS, LABEL_COLUMNS
from smx_assets.domain.features.baselines import N_DAYS, baselines_from_store
from smx_assets.domain.features.daily import write_day_records, write_training_day
from smx_assets.domain.features.profile import FarmRecords, load_herd_records
from smx_assets.domain.features.serving import bucket_features
from smx_assets.domain.features.storage import BASELINES, PROFILES, TRAINING, FeatureFiles
from smx_assets.domain.time_grid import BUCKET, BUCKETS_PER_DAY, day_key
from smx_assets.resources import FeatureStoreResource, HerdDbResource, SensorStoreResource

GROUP = "features"
OWNERS = ["team:ml-platform"]
DAY = pd.Timedelta(days=1)
PARITY_SAMPLE_BUCKETS = 4
PARITY_TOLERANCE = 1e-9

# A backfill of the daily feature assets over many days fans out into runs of at most
# SMX_TRAINING_BACKFILL_DAYS_PER_RUN days (default 31: parallel run workers or pods, within the
# run queue's limits); a range up to that long is still one run, its per-run overhead paid once.
# The three share the policy, so a backfill of all of them splits the same days into the same runs
# (and the jobs that select them see one policy). Job runs over a range (retraining_features_job)
# are not backfills: they stay one run.
FEATURE_BACKFILL = dg.BackfillPolicy.multi_run(
    max_partitions_per_run=settings.current().retraining.backfill_days_per_run)


def _markdown(frame: pd.DataFrame, columns: list[str], n: int = 8) -> str:
    cols = [c for c in columns if c in frame.columns]
    return frame[cols].head(n).to_markdown(index=False, floatfmt=".3f")


def _schema(frame: pd.DataFrame, docs: dict[str, str] | None = None) -> dg.TableSchema:
    docs = docs or {}
    return dg.TableSchema(columns=[dg.TableColumn(name=c, type=str(frame[c].dtype), description=docs.get(c))
                                   for c in frame.columns])


# ------------------------------------------------------------------------- animal_profiles


@partitioned_asset(
    daily_partitions, group_name=GROUP, owners=OWNERS, backfill_policy=FEATURE_BACKFILL,
    deps=["herd_records"],
    kinds={"pandas", "parquet"},
    description=(
        "The farm records as the farm software held them at the end of each day (calvings, "
        "inseminations with pregnancy checks, treatments, housing, confirmed heat alerts), stored "
        "so training features are reproducible; plus one profile row per animal at day end."
    ),
)
def animal_profiles(context: dg.AssetExecutionContext, herd_db: HerdDbResource,
                    feature_store: FeatureStoreResource) -> dg.MaterializeResult:
    files = FeatureFiles(feature_store.base_path)
    records = load_herd_records(herd_db.engine())
    per_day: dict[str, int] = {}
    per_key: dict[str, dict[str, object]] = {}
    snapshot = pd.DataFrame()
    days = partition_days(context)
    for day in days:
        _, snapshot = write_day_records(records, files, day)
        per_day[day_key(day)] = len(snapshot)
        per_key[day_key(day)] = {
            "dagster/row_count": int(len(snapshot)),
            "missing_share": dg.MetadataValue.float(float(snapshot.isna().to_numpy().mean()) if len(snapshot) else 0.0),
            "preview": dg.MetadataValue.md(_markdown(snapshot, list(snapshot.columns))),
            "path": files.url(PROFILES, day, "snapshot"),
        }
        context.log.info("animal_profiles %s: %d active animals", day.date(), len(snapshot))
        progress.advance("animal_profiles", len(per_day), len(days), str(day.date()))
    per_partition_metadata(context, per_key)
    return dg.MaterializeResult(metadata={
        "run_partition_range": f"{day_key(days[0])}..{day_key(days[-1])}",
        "run_animals_per_day": per_day,
        "dagster/column_schema": _schema(snapshot, FEATURE_DOC),
    })


# ------------------------------------------------------------------------ sensor_baselines


@partitioned_asset(
    daily_partitions, group_name=GROUP, owners=OWNERS, backfill_policy=FEATURE_BACKFILL,
    deps=["bolus_readings"],
    kinds={"pandas", "parquet"},
    description=(
        f"Per-animal baselines for each day from the previous {N_DAYS} days only (never the day "
        "itself): drinking-free temperature and activity per hour of day, and the 10-day "
        "temperature mean the fever rule uses. Stored so the 10-minute scoring path never "
        "rescans ten days of readings."
    ),
)
def sensor_baselines(context: dg.AssetExecutionContext, sensor_store: SensorStoreResource,
                     feature_store: FeatureStoreResource) -> dg.MaterializeResult:
    files = FeatureFiles(feature_store.base_path)
    days = partition_days(context)
    per_day: dict[str, int] = {}
    per_key: dict[str, dict[str, object]] = {}
    baselines = pd.DataFrame()
    for day, baselines in baselines_from_store(sensor_store.open(), days).items():
        files.write(baselines, BASELINES, day)
        per_day[day_key(day)] = int(baselines["animal_id"].nunique())
        per_key[day_key(day)] = {
            "dagster/row_count": int(len(baselines)),
            "animals": per_day[day_key(day)],
            "missing_share": dg.MetadataValue.float(float(baselines.isna().to_numpy().mean()) if len(baselines) else 1.0),
            "hod_baseline_missing_share": dg.MetadataValue.float(
                float(baselines["temp_hod"].isna().mean()) if len(baselines) else 1.0),
            "preview": dg.MetadataValue.md(_markdown(baselines, list(baselines.columns))),
            "path": files.url(BASELINES, day),
        }
    per_partition_metadata(context, per_key)
    return dg.MaterializeResult(metadata={
        "run_partition_range": f"{day_key(days[0])}..{day_key(days[-1])}",
        "run_animals_per_day": per_day,
        "dagster/column_schema": _schema(baselines),
        "history_days": N_DAYS,
    })


# ----------------------------------------------------------------------- training_features


def _parity(store, live_records: FarmRecords, baselines: pd.DataFrame | None, training: pd.DataFrame,
            day: pd.Timestamp, seed: int) -> tuple[bool, dict[str, object]]:
    """Recompute a sample of the day's buckets through the serving path and compare."""
    rng = np.random.default_rng(seed)
    n_buckets = BUCKETS_PER_DAY
    picks = sorted({0, n_buckets - 1, *rng.choice(n_buckets, PARITY_SAMPLE_BUCKETS - 2, replace=False).tolist()})
    buckets = [day + k * BUCKET for k in picks]
    worst, bad_cols, compared = 0.0, set(), 0
    problems: list[str] = []
    for b in buckets:
        serving = bucket_features(store, live_records, baselines, b).reset_index(drop=True)
        train = training.loc[training["bucket_start"] == b, KEY_COLUMNS + FEATURE_COLUMNS].reset_index(drop=True)
        if list(serving.columns) != list(train.columns) or len(serving) != len(train) or \
                not (serving["animal_id"].to_numpy() == train["animal_id"].to_numpy()).all():
            problems.append(f"{b}: serving {len(serving)} rows vs training {len(train)}")
            continue
        s = serving[FEATURE_COLUMNS].to_numpy(dtype="float64")
        t = train[FEATURE_COLUMNS].to_numpy(dtype="float64")
        nan_mismatch = np.isnan(s) != np.isnan(t)
        diff = np.where(np.isnan(s) | np.isnan(t), 0.0, np.abs(s - t))
        worst = max(worst, float(diff.max()) if diff.size else 0.0)
        bad = (diff > PARITY_TOLERANCE) | nan_mismatch
        bad_cols |= {FEATURE_COLUMNS[i] for i in np.flatnonzero(bad.any(axis=0))}
        compared += len(serving)
    passed = not problems and not bad_cols and compared > 0
    return passed, {
        "buckets": [str(b) for b in buckets],
        "rows_compared": compared,
        "max_abs_diff": worst,
        "mismatched_columns": sorted(bad_cols),
        "problems": problems,
        "tolerance": PARITY_TOLERANCE,
    }


@partitioned_asset(
    daily_partitions, group_name=GROUP, owners=OWNERS,
    backfill_policy=FEATURE_BACKFILL,
    deps=[animal_profiles, sensor_baselines, "bolus_readings", "climate_readings", "herd_records"],
    kinds={"pandas", "parquet"},
    check_specs=[dg.AssetCheckSpec(
        "serving_parity", asset="training_features", blocking=True,
        description="A sample of the day's buckets recomputed through the serving path (trailing-window "
                    "reads from the sensor store, live herd DB) equals the training rows within 1e-9.")],
    description=(
        "Every 10-minute bucket of the day for every animal with a bolus: one feature vector "
        "(bucket statistics, drinking-free temperature, 2/6/24 h windows, hour-of-day and 10-day "
        "baselines, THI, as-recorded profile, explicit missing indicators) plus label_heat, "
        "label_calving and label_fever from the farm records (1, 0, or NaN = unknown). One "
        "Parquet file per day."
    ),
)
def training_features(context: dg.AssetExecutionContext, herd_db: HerdDbResource,
                      sensor_store: SensorStoreResource, feature_store: FeatureStoreResource
                      ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    files = FeatureFiles(feature_store.base_path)
    store = sensor_store.open()
    live = load_herd_records(herd_db.engine())  # labels may look ahead: they use all records entered so far
    labels_as_of = pd.Timestamp.now(tz="UTC")
    days = partition_days(context)
    per_day: dict[str, int] = {}
    per_key: dict[str, dict[str, object]] = {}
    label_counts = {c: 0 for c in LABEL_COLUMNS}
    frame = pd.DataFrame()
    missing_sum, cells = 0.0, 0
    timings: dict[str, float] = {}
    preview_columns = KEY_COLUMNS + ["temp_clean", "temp_clean_mean_2h", "temp_dev_hod_2h", "activity_ratio_hod_2h",
                                     "temp_dev_10d_2h", "thi", "days_in_milk", "drinking", *LABEL_COLUMNS]
    for day in days:
        t0 = time.perf_counter()
        records = files.read_records(day)
        if records is None:
            raise dg.Failure(f"animal_profiles for {day.date()} is not materialised: run it first (same partition)")
        baselines = files.read_baselines([day])
        if baselines is None:
            raise dg.Failure(f"sensor_baselines for {day.date()} is not materialised: run it first (same partition)")
        frame = write_training_day(store, records, baselines, live, files, day)
        key = day_key(day)
        per_day[key] = len(frame)
        day_missing = float(frame[FEATURE_COLUMNS].isna().to_numpy().sum())
        for c in LABEL_COLUMNS:
            label_counts[c] += int((frame[c] == 1).sum())
        missing_sum += day_missing
        cells += frame[FEATURE_COLUMNS].size
        timings[key] = round(time.perf_counter() - t0, 2)
        col_missing = frame[FEATURE_COLUMNS].isna().mean().sort_values(ascending=False)
        per_key[key] = {
            "dagster/row_count": int(len(frame)),
            "animals": int(frame["animal_id"].nunique()) if len(frame) else 0,
            "missing_share": dg.MetadataValue.float(day_missing / frame[FEATURE_COLUMNS].size if len(frame) else 0.0),
            "most_missing_columns": {k: round(float(v), 4) for k, v in col_missing.head(8).items()},
            "label_positive_rows": {c: int((frame[c] == 1).sum()) for c in LABEL_COLUMNS},
            "preview": dg.MetadataValue.md(_markdown(frame, preview_columns)),
            "seconds": dg.MetadataValue.float(timings[key]),
            "path": files.url(TRAINING, day),
        }
        context.log.info("training_features %s: %d rows in %.1f s", day.date(), len(frame), timings[key])
        progress.advance("training_features", len(per_day), len(days), str(day.date()))

    last = days[-1]
    passed, parity_meta = _parity(store, live, files.read_baselines([last]), frame, last,
                                  seed=int(last.value // 10**9))
    per_partition_metadata(context, per_key)
    # Run-level figures are named run_* so no partition's page passes them off as its own.
    yield dg.MaterializeResult(metadata={
        "run_partition_range": f"{day_key(days[0])}..{day_key(days[-1])}",
        "run_row_count": int(sum(per_day.values())),
        "run_rows_per_day": per_day,
        "run_missing_share": dg.MetadataValue.float(missing_sum / cells if cells else 0.0),
        "run_label_positive_rows": label_counts,
        "run_seconds_per_day": timings,
        "labels_as_of": str(labels_as_of),
        "dagster/column_schema": _schema(frame, {**FEATURE_DOC, "animal_id": "animal", "bucket_start":
                                                 "start of the 10-minute bucket (UTC)",
                                                 **{c: "1 event, 0 none, NaN unknown" for c in LABEL_COLUMNS}}),
    })
    yield dg.AssetCheckResult(check_name="serving_parity", passed=passed,
                              severity=dg.AssetCheckSeverity.ERROR,
                              metadata={"day": day_key(last), **parity_meta},
                              description=f"serving path vs training rows on {day_key(last)} (the run's last day)")
