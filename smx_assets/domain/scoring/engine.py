"""Score a window of buckets: champion and shadow models, alerts with lineage.

The Dagster ``scores`` asset is a thin shell around :func:`score_window`; the CLI, tests and
the benchmark call it directly to measure what Dagster adds.

* Models are loaded once per run (:func:`load_model_sets`): each use case's ``champion`` (the
  rule baseline stands in when none is registered, and the run says so) and its
  ``challenger`` for shadow scores.
* One bucket (the 10-minute path) reads the trailing window through the serving entry point;
  a range (retro-scoring) computes every bucket in one vectorised call of the same
  ``compute_features``. Both give the same vectors (the parity the feature layer proves), so
  both give the same scores and alerts.
* Scores of the window are replaced (score store: one file per bucket and shard, written at
  the end of the run; the run's models once in the scoring lineage); alerts are insert-or-ignore and respect the
  refractory period against alerts already raised before *and after* the window (late-data
  re-scores of an older bucket must not open a second alert for a known episode).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from smx_assets.domain.features.baselines import baselines_from_store
from smx_assets.domain.features.pipeline import FEATURE_COLUMNS, LOOKBACK, compute_features
from smx_assets.domain.features.profile import FarmRecords, active_animals
from smx_assets.domain.features.storage import BASELINES, SCORED, FeatureFiles
from smx_assets.domain.model_registry.registry import (
    CHALLENGER,
    LoadedModel,
    get_alias_version,
    load_champion,
    load_version,
)
from smx_assets.domain.score_store.files import WHOLE, ScoreFiles
from smx_assets.domain.score_store.lineage import RunLineage, ScoredModel, finish_lineage, record_lineage
from smx_assets.domain.score_store.store import ScoreStore
from smx_assets.domain.score_store.writer import ScoreWriter
from smx_assets.domain.scoring.feature_pool import in_chunk_order, worker_peak_rss_mb
from smx_assets.domain.scoring.outputs import (
    ALL_ANIMALS,
    AnimalRange,
    alerts_near,
    insert_alerts,
)
from smx_assets.domain.scoring.shards import WHOLE_FLEET, Shard
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.time_grid import BUCKET, day_start, floor_bucket, utc
from smx_assets.domain.use_cases.alerting import apply_alert_policy
from smx_assets.domain.use_cases.base import UseCase, signal_gate

log = logging.getLogger(__name__)


@dataclass
class ModelSet:
    """The models one use case scores with in a run."""

    use_case: UseCase
    champion: LoadedModel
    challenger: LoadedModel | None

    @property
    def fallback(self) -> bool:
        return self.champion.fallback


def load_model_sets(use_cases: Sequence[UseCase], client: Any = None,
                    cache_dir: Path | None = None, pins: Mapping[str, Any] | None = None) -> dict[str, ModelSet]:
    """Each use case's champion (rule baseline when none) and challenger, loaded once.

    ``client``: an ``MlflowClient`` on the store to use (default: the environment's store).
    ``cache_dir``: the local model cache (``Settings.model_cache_dir``): a version an earlier
    run loaded comes from there, not from MLflow. Each alias is resolved to a version once, here
    (a promotion between two runs is seen by the next run), unless ``pins`` (the scoring sensor's
    :mod:`~smx_assets.domain.model_registry.pins`) already name the versions: then the registry is
    not asked at all. A challenger that is the champion's version is neither loaded again nor
    scored twice.
    """
    sets: dict[str, ModelSet] = {}
    for uc in use_cases:
        pin = (pins or {}).get(uc.name)
        if pin is not None:
            first = pin["champion"]
            champion = load_version(first, alias=first.alias, fallback=first.fallback, client=client,
                                    cache_dir=cache_dir)
            mv = pin["challenger"]
        else:
            champion = load_champion(uc.model_name, fallback_name=uc.rule_model_name, client=client,
                                     cache_dir=cache_dir)
            mv = get_alias_version(uc.model_name, CHALLENGER, client)
        promoted = mv is not None and str(mv.version) == champion.version and not champion.fallback
        # the challenger was promoted: no separate shadow to score, nothing more to load
        challenger = None if mv is None or promoted else load_version(mv, alias=CHALLENGER, client=client,
                                                                      cache_dir=cache_dir)
        sets[uc.name] = ModelSet(uc, champion, challenger)
    return sets


@dataclass
class ScoringLineage:
    code_version: str
    partition_key: str
    dagster_run_id: str | None = None


@dataclass
class ScoringResult:
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    n_buckets: int
    n_animals: int
    n_predictions: int
    alerts_new: dict[str, int]
    alerts_candidates: dict[str, int]
    fallback_use_cases: list[str]
    models: dict[str, dict[str, Any]]
    stage_seconds: dict[str, float] = field(default_factory=dict)
    feature_missing_share: float = 0.0
    max_alert_lag_minutes: float | None = None
    # use case -> why it was not scored for some or all animals (signals their sensors lack)
    skipped_use_cases: dict[str, str] = field(default_factory=dict)
    n_readings: int = 0  # bolus readings inside the window's buckets
    buckets_without_readings: list[pd.Timestamp] = field(default_factory=list)
    lineage_ids: dict[str, int] = field(default_factory=dict)  # "heat" / "heat (shadow)" -> scoring_lineage.id
    # per bucket: scores written, champion-scored animals and readings read
    per_bucket: dict[pd.Timestamp, dict[str, int]] = field(default_factory=dict)
    score_bytes_written: int = 0
    worker_peak_rss_mb: float = 0.0  # the largest forked feature worker's peak (processes > 1)
    feature_worker_chunks: int = 0  # chunks whose features a forked worker computed


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def stage(self, name: str) -> _Stage:
        return _Stage(self, name)


class _Stage:
    def __init__(self, timer: _Timer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timer.seconds[self.name] = round(
            self.timer.seconds.get(self.name, 0.0) + time.perf_counter() - self.t0, 4
        )


def window_features(
    store: SensorStore,
    records: FarmRecords,
    files: FeatureFiles,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """Feature vectors of every bucket in ``[start, end)`` from the trailing window + baselines."""
    days = list(pd.date_range(day_start(start), day_start(end - BUCKET), freq="D"))
    baselines = ensure_baselines(store, files, days)
    readings = store.read_bolus(start - LOOKBACK, end)
    climate = store.read_climate(start - LOOKBACK, end)
    return compute_features(readings, climate, records, baselines, (start, end))


def prefetch_bucket_window(store: SensorStore, start: pd.Timestamp, end: pd.Timestamp) -> AbstractContextManager[None]:
    """Around a ten-minute run's set-up (models, herd records) and scoring: the store's read
    cache (InfluxDB, ``read_cache=``) fetches the bucket's trailing window meanwhile, so the new
    bucket's 6-10 s at 100,000 animals overlap the set-up. Only for one bucket (a longer window
    is read in small chunks that bypass the cache) and only for a store that has a prefetch."""
    prefetch = getattr(store, "prefetch", None)
    if prefetch is None or utc(end) - utc(start) != BUCKET:
        return nullcontext()
    return prefetch(floor_bucket(utc(start)) - LOOKBACK, utc(end))


def ensure_baselines(store: SensorStore, files: FeatureFiles, days: list[pd.Timestamp]) -> pd.DataFrame | None:
    """The stored baselines of ``days``; a day never materialised (today's, before the daily
    run) is computed from the store with the asset's own function and stored, so live buckets
    are never scored without baselines."""
    missing = [d for d in days if not files.exists(BASELINES, d)]
    if missing:
        log.warning("sensor_baselines missing for %s: computing them from the sensor store now "
                    "(materialise sensor_baselines to record them in Dagster)",
                    ", ".join(str(d.date()) for d in missing))
        for day, frame in baselines_from_store(store, missing).items():
            files.write(frame, BASELINES, day)
    return files.read_baselines(days)


SCORE_COLUMNS = ["use_case", "shadow", "lineage_id", "animal_id", "bucket_start", "score"]


def _empty_scores() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("lineage_id", "animal_id") else object)
                         for c in SCORE_COLUMNS})


def _scores(
    features: pd.DataFrame, model_sets: Mapping[str, ModelSet], lineage_ids: Mapping[tuple[str, bool], int],
    eligible: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Champion and shadow scores (``SCORE_COLUMNS``); a use case scores only the animals in
    ``eligible[name]``. What a score is scored with is its lineage row, not its columns."""
    parts = []
    if features.empty:  # no bucket with readings: nothing to score
        return _empty_scores()
    all_features = features
    for name, ms in model_sets.items():
        features = all_features
        if eligible is not None and name in eligible:
            keep = all_features["animal_id"].isin(eligible[name]).to_numpy()
            if not keep.all():
                features = all_features[keep]
        if features.empty:
            continue
        for model, shadow in ((ms.champion, False), (ms.challenger, True)):
            if model is None:
                continue
            parts.append(pd.DataFrame({
                "use_case": ms.use_case.name,
                "shadow": shadow,
                "lineage_id": lineage_ids[(ms.use_case.name, shadow)],
                "animal_id": features["animal_id"].to_numpy(dtype="int64"),
                "bucket_start": features["bucket_start"].array,  # tz-aware as is: to_numpy() made 100,000s of Timestamps
                "score": model.predict_scores(features),
            }))
    if not parts:
        return _empty_scores()
    out = pd.concat(parts, ignore_index=True)
    out["bucket_start"] = pd.to_datetime(out["bucket_start"], utc=True)
    return out


def _history_slice(history: pd.DataFrame | None, animals: AnimalRange) -> pd.DataFrame:
    """The rows of a run's champion history (sorted by animal) in the id range ``[lo, hi)``."""
    if history is None or history.empty:
        return pd.DataFrame({"animal_id": pd.Series(dtype="int64"),
                             "bucket_start": pd.Series(dtype="datetime64[us, UTC]"),
                             "score": pd.Series(dtype="float64")})
    ids = history["animal_id"].to_numpy()
    lo, hi = animals
    i0 = 0 if lo is None else int(np.searchsorted(ids, lo, side="left"))
    i1 = len(ids) if hi is None else int(np.searchsorted(ids, hi, side="left"))
    return history.iloc[i0:i1]


def champion_history(scores: ScoreStore, use_case: str, start: pd.Timestamp, end: pd.Timestamp,
                     animal_ids: np.ndarray | None = None) -> pd.DataFrame:
    """Stored champion scores of a use case in ``[start, end)`` (of ``animal_ids`` when given),
    sorted by animal: the alert policy's look-back, read once per run."""
    frame = scores.read(start, end, use_case=use_case, shadow=False, lineage=())
    if animal_ids is not None and len(frame):
        frame = frame.loc[np.isin(frame["animal_id"].to_numpy(), animal_ids)]
    frame = frame[["animal_id", "bucket_start", "score"]]
    return frame.sort_values(["animal_id", "bucket_start"], kind="stable", ignore_index=True)


def _alerts(
    engine: Engine, ms: ModelSet, preds: pd.DataFrame, features: pd.DataFrame,
    start: pd.Timestamp, end: pd.Timestamp, history: pd.DataFrame, lineage: ScoringLineage,
    refs: Mapping[pd.Timestamp, str], animals: AnimalRange = ALL_ANIMALS, farms: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Alerts of one use case for the animals of ``animals`` (a chunk's id range) and of
    ``farms`` (a shard's; ``None``: every farm): the alert policy runs per animal, so chunk by
    chunk and shard by shard gives the whole window's alerts."""
    uc = ms.use_case
    policy = uc.alert_policy
    champion = preds[(preds["use_case"] == uc.name) & (~preds["shadow"])]
    if champion.empty:
        return champion
    history = history[history["bucket_start"] >= start - policy.lookback]
    current = champion[["animal_id", "bucket_start", "score"]]
    scores = pd.concat([history, current], ignore_index=True) if len(history) else current
    before = alerts_near(engine, uc.name, start - policy.refractory, start, animals=animals, farms=farms)
    last = before.groupby("animal_id")["bucket_start"].max().to_dict() if not before.empty else {}
    raised = apply_alert_policy(scores, policy, last_alert_at=last, emit_from=start)
    if raised.empty:
        return raised
    after = alerts_near(engine, uc.name, start, end + policy.refractory, animals=animals, farms=farms)
    if not after.empty:
        merged = raised.merge(after, on="animal_id", suffixes=("", "_known"))
        gap = (merged["bucket_start"] - merged["bucket_start_known"]).abs()
        # An alert already raised for the same episode (within the refractory period) wins.
        clash = merged[(gap < policy.refractory) & (merged["bucket_start"] != merged["bucket_start_known"])]
        if not clash.empty:
            drop = set(zip(clash["animal_id"], clash["bucket_start"]))
            raised = raised[[(a, b) not in drop for a, b in zip(raised["animal_id"], raised["bucket_start"])]]
    feats = features.set_index(["animal_id", "bucket_start"])
    cols = [c for c in (ms.champion.feature_columns or uc.feature_columns) if c in feats.columns]
    model = ms.champion
    rows = []
    for r in raised.itertuples(index=False):
        key = (int(r.animal_id), pd.Timestamp(r.bucket_start))
        rows.append({
            "use_case": uc.name, "animal_id": key[0], "bucket_start": key[1], "score": float(r.score),
            "threshold": float(r.threshold), "model_name": model.name, "model_version": str(model.version),
            "mlflow_run_id": model.run_id, "code_version": lineage.code_version,
            "partition_key": lineage.partition_key, "dagster_run_id": lineage.dagster_run_id,
            "feature_ref": f"{refs.get(key[1], '')}#animal_id={key[0]}", "features": feats.loc[key, cols].to_dict(),
        })
    return pd.DataFrame(rows)


# Animal x bucket cells one chunk of a scoring run holds (SMX_SCORING_CHUNK_CELLS): a ten-minute
# bucket is scored 10,000 animals at a time (~1 GB peak), a day of buckets (retro-scoring) 100 at a time.
DEFAULT_CHUNK_CELLS = 10_000
MIN_CHUNK_ANIMALS = 100  # a day-long window still reads its readings in a few hundred queries at most


def animal_chunks(ids: np.ndarray, n_buckets: int, chunk_cells: int) -> list[tuple[np.ndarray, AnimalRange]]:
    """Sorted active ids split into chunks of at most ``chunk_cells // n_buckets`` animals, each
    with the id range ``[lo, hi)`` it owns; the ranges tile every id (the first starts at -inf,
    the last ends at +inf), so per-range replaces and look-ups together cover the whole window."""
    if len(ids) == 0:
        return []
    size = max(MIN_CHUNK_ANIMALS, int(chunk_cells) // max(1, n_buckets))
    n_chunks = -(-len(ids) // size)
    size = -(-len(ids) // n_chunks)  # equal chunks: no small remainder chunk
    parts = [ids[i:i + size] for i in range(0, len(ids), size)]
    out = []
    for k, part in enumerate(parts):
        lo = None if k == 0 else int(part[0])
        hi = None if k == len(parts) - 1 else int(parts[k + 1][0])
        out.append((part, (lo, hi)))
    return out


@dataclass
class _Window:
    """What every chunk of one run shares."""

    engine: Engine
    store: SensorStore
    records: FarmRecords
    model_sets: Mapping[str, ModelSet]
    lineage: ScoringLineage
    start: pd.Timestamp
    end: pd.Timestamp
    buckets: pd.DatetimeIndex
    climate: pd.DataFrame
    baselines: pd.DataFrame | None
    eligible: dict[str, np.ndarray]
    scored_at: pd.Timestamp
    timer: _Timer
    writer: ScoreWriter
    lineage_ids: dict[tuple[str, bool], int]
    history: dict[str, pd.DataFrame]  # use case -> champion scores before the window (sorted by animal)
    farms: list[int] | None = None  # a shard's farms (None: the whole fleet)


@dataclass
class _ChunkOutcome:
    per_bucket: pd.Series  # readings per window bucket (n_readings summed over the chunk's animals)
    n_predictions: int = 0
    n_animals: int = 0
    buckets_scored: set[pd.Timestamp] = field(default_factory=set)
    missing: float = 0.0  # NaN feature cells in the scored rows
    cells: int = 0  # feature cells in the scored rows
    alerts: dict[str, pd.DataFrame] = field(default_factory=dict)
    champion_animals: dict[pd.Timestamp, int] = field(default_factory=dict)  # per bucket: animals scored


def _chunk_features(w: _Window, ids: np.ndarray, whole_herd: bool = False) -> pd.DataFrame:
    # the whole herd in one chunk reads every animal (the read cache's cheapest path); a shard
    # or a chunk reads its own animals only
    readings = w.store.read_bolus(w.start - LOOKBACK, w.end, animal_ids=None if whole_herd else ids.tolist())
    baselines = w.baselines
    if baselines is not None and len(ids) and not whole_herd:  # the chunk's rows (sorted by animal, see score_window)
        bid = baselines["animal_id"].to_numpy()
        i0, i1 = int(np.searchsorted(bid, ids[0], side="left")), int(np.searchsorted(bid, ids[-1], side="right"))
        baselines = baselines.iloc[i0:i1]
    return compute_features(readings, w.climate, w.records, baselines, (w.start, w.end), animal_ids=ids)


def _per_bucket(w: _Window, features: pd.DataFrame) -> pd.Series:
    counts = (features.groupby("bucket_start")["n_readings"].sum() if len(features)
              else pd.Series(dtype="float64"))
    return counts.reindex(w.buckets, fill_value=0)


def _score_chunk(w: _Window, key: int, features: pd.DataFrame, animals: AnimalRange, empty: set[pd.Timestamp],
                 refs: Mapping[pd.Timestamp, str]) -> _ChunkOutcome:
    """Scores (handed to the run's writer as chunk ``key``, replacing what that chunk gave
    before) and alerts (returned, written once at the end) of one chunk, leaving out the
    buckets in ``empty``."""
    outcome = _ChunkOutcome(per_bucket=_per_bucket(w, features))
    if empty and len(features):
        features = features.loc[~features["bucket_start"].isin(list(empty))].reset_index(drop=True)
    with w.timer.stage("predict"):
        preds = _scores(features, w.model_sets, w.lineage_ids, w.eligible)
    outcome.n_predictions = w.writer.replace(key, preds)  # written once, at the end of the run
    with w.timer.stage("alerts"):
        for name, ms in w.model_sets.items():
            outcome.alerts[name] = _alerts(w.engine, ms, preds, features, w.start, w.end,
                                           _history_slice(w.history.get(name), animals), w.lineage, refs,
                                           animals, w.farms)
    if len(features):
        feat_cols = [c for c in FEATURE_COLUMNS if c in features.columns]
        outcome.missing = float(features[feat_cols].isna().to_numpy().sum())
        outcome.cells = int(len(features) * len(feat_cols))
        outcome.n_animals = int(features["animal_id"].nunique())
        outcome.buckets_scored = {pd.Timestamp(b) for b in features["bucket_start"].unique()}
        outcome.champion_animals = {pd.Timestamp(b): int(n) for b, n in
                                    features.groupby("bucket_start")["animal_id"].nunique().items()}
    return outcome


def score_window(
    *,
    engine: Engine,
    store: SensorStore,
    files: FeatureFiles,
    records: FarmRecords,
    model_sets: Mapping[str, ModelSet],
    start: pd.Timestamp,
    end: pd.Timestamp,
    lineage: ScoringLineage,
    write_alerts: bool = True,
    now: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC"),
    chunk_cells: int = DEFAULT_CHUNK_CELLS,
    shard: Shard = WHOLE_FLEET,
    processes: int = 1,
) -> ScoringResult:
    """Score every bucket in ``[start, end)`` and write scores and alerts.

    ``processes`` > 1 computes chunk features on that many processes (the run's and forked
    workers, ``feature_pool``), with the same results.

    The herd is scored in chunks of animals (``chunk_cells`` animal x bucket cells each, see
    :func:`animal_chunks`), so peak memory depends on the chunk, not on the herd: each chunk
    reads its animals' trailing window, computes their vectors, scores and writes them. Every
    step is per animal (features, the signal gate, the alert policy, the refractory look-ups),
    so the chunks together give what one pass over the herd gives. The two herd-wide decisions
    are taken herd-wide:

    * the per-use-case signal gate is computed once from the herd records (same ids, same
      reason);
    * a bucket no reading has reached at all gets no scores. A chunk that has no readings
      in a bucket first assumes the bucket is empty; when another chunk had readings there,
      that chunk is scored again at the end with the herd-wide answer (rare: one farm's data is
      late), so the result never depends on how the herd was split.

    The run's models are recorded once in the scoring lineage (one row per use case and role);
    its scores are gathered chunk by chunk (a chunk scored again replaces its first scores) and
    written at the end, one file per bucket and shard
    (:class:`~smx_assets.domain.score_store.writer.ScoreWriter`), before any alert: a run that
    dies leaves each bucket's earlier scores, never part of its new ones.

    ``shard`` (``SMX_SCORING_SHARDS`` > 1: one run per shard and bucket, see
    ``domain/scoring/shards.py``) scores only the animals of the shard's farms: it reads only
    their readings (the store's ``animal_ids`` filter; climate is read whole, one series per farm
    sensor), replaces only its own score file of each bucket (``HHMM.shard-3-of-4.parquet``: a
    shard cannot replace another shard's scores), looks up only its animals' alert history, and
    writes its feature vectors to its own file per bucket (the same name under ``scored_features``). Alerts stay
    one per episode: the policy and the insert-or-ignore are per animal, and an animal is in one
    shard. The two herd-wide decisions become *shard-wide*: the signal gate is computed from the
    shard's animals (same ids per animal; only the reason's counts are the shard's), and a bucket
    in which none of the shard's animals has a reading gets no scores for the shard even if
    other shards had readings there (an unsharded run would score those animals with empty
    features; the sensor re-scores the shard when its late data arrives). With whole farms per
    shard that is the same as "this shard's farms sent nothing", which is what the guard is for.
    """
    start, end = floor_bucket(utc(start)), utc(end)
    timer = _Timer()
    buckets = pd.date_range(start, end, freq=BUCKET, inclusive="left")
    with timer.stage("features"):
        days = list(pd.date_range(day_start(start), day_start(end - BUCKET), freq="D"))
        baselines = ensure_baselines(store, files, days)
        if baselines is not None and len(baselines):  # stable: an animal's rows keep their order
            ids = baselines["animal_id"].to_numpy()
            if (np.diff(ids) < 0).any():
                baselines = baselines.iloc[np.argsort(ids, kind="stable")].reset_index(drop=True)
        climate = store.read_climate(start - LOOKBACK, end)
    farms: list[int] | None = None
    herd = records.animals
    if not shard.whole:
        farms = shard.farms(set(records.animals["farm_id"].astype("int64"))
                            | set(records.farms["farm_id"].astype("int64")))
        herd = records.animals[shard.animal_mask(records.animals)]
    gates = {name: signal_gate(ms.use_case, herd) for name, ms in model_sets.items()}
    skipped = {name: reason for name, (_ids, reason) in gates.items() if reason}
    shard_label = WHOLE if shard.whole else shard.label
    score_store = ScoreStore(engine, ScoreFiles(files.base_path))
    writer = ScoreWriter(score_store.files, shard_label)
    scored_at = now()
    suffix = "" if shard.whole else f".{shard.label}"
    with timer.stage("lineage"):
        lineage_ids = record_lineage(engine, RunLineage(
            code_version=lineage.code_version, partition_key=lineage.partition_key,
            dagster_run_id=lineage.dagster_run_id, window_start=start, window_end=end, shard=shard_label,
            feature_ref=f"{files.display_base}/{SCORED}/{{day}}/{{hhmm}}{suffix}.parquet", scored_at=scored_at,
        ), [ScoredModel(name, shadow, m.name, str(m.version), m.alias, m.run_id)
            for name, ms in model_sets.items()
            for m, shadow in ((ms.champion, False), (ms.challenger, True)) if m is not None])
    active = active_animals(records, start, end)
    if not shard.whole:
        active = active[np.isin(active, herd["animal_id"].to_numpy(dtype="int64"))]
    with timer.stage("alert_history"):  # the policies' look-back, read once for the whole run
        history = {name: champion_history(score_store, name, start - ms.use_case.alert_policy.lookback, start, active)
                   for name, ms in model_sets.items()}
    w = _Window(engine=engine, store=store, records=records, model_sets=model_sets, lineage=lineage,
                start=start, end=end, buckets=buckets, climate=climate, baselines=baselines,
                eligible={name: ids for name, (ids, reason) in gates.items() if reason},
                scored_at=scored_at, timer=timer, writer=writer, lineage_ids=lineage_ids, history=history,
                farms=farms)
    chunks = animal_chunks(active, len(buckets), chunk_cells)
    whole_herd = len(chunks) == 1 and shard.whole
    outcomes: list[_ChunkOutcome] = []
    assumed: list[set[pd.Timestamp]] = []
    with files.scored_writer(suffix) as feature_writer:
        refs = {pd.Timestamp(b): feature_writer.url(b) for b in buckets}
        pool_stats = {"worker_chunks": 0}
        ordered = in_chunk_order(lambda k: _chunk_features(w, chunks[k][0], whole_herd=whole_herd), len(chunks),
                                 processes, after_fork=getattr(store, "after_fork", None), stats=pool_stats)
        while True:
            with timer.stage("features"):  # this process's chunks, and the wait for the worker's
                item = next(ordered, None)
            if item is None:
                break
            k, features = item
            ids, animals = chunks[k]
            with timer.stage("write_features"):
                feature_writer.add(features)
            per_bucket = _per_bucket(w, features)
            own_empty = {pd.Timestamp(b) for b, n in per_bucket.items() if n <= 0}
            outcomes.append(_score_chunk(w, k, features, animals, own_empty, refs))
            assumed.append(own_empty)
            del features
        totals = sum((o.per_bucket for o in outcomes), start=pd.Series(0.0, index=buckets))
        empty = {pd.Timestamp(b) for b, n in totals.items() if n <= 0}
        with timer.stage("write_features"):
            feature_writer.commit(keep={pd.Timestamp(b) for b in buckets} - empty)
    for k, (ids, animals) in enumerate(chunks):
        if assumed[k] != empty:  # this chunk had no readings in a bucket other chunks had readings in
            with timer.stage("features"):
                features = _chunk_features(w, ids, whole_herd=whole_herd)
            outcomes[k] = _score_chunk(w, k, features, animals, empty, refs)
            del features
    # every bucket's scores are in place before any alert is written (an empty bucket gets an
    # empty file: it replaces what an earlier run stored)
    writer.commit(buckets)
    timer.seconds["write_scores"] = round(writer.seconds, 4)
    with timer.stage("lineage"):
        finish_lineage(engine, {lid: writer.per_lineage.get(lid, 0) for lid in lineage_ids.values()},
                       len(set(buckets) - empty))
    alerts_new: dict[str, int] = {}
    alerts_cand: dict[str, int] = {}
    lags: list[float] = []
    with timer.stage("alerts"):
        for name in model_sets:
            parts = [o.alerts[name] for o in outcomes if name in o.alerts and not o.alerts[name].empty]
            raised = (pd.concat(parts, ignore_index=True).sort_values(["bucket_start", "animal_id"], kind="stable")
                      .reset_index(drop=True) if parts else pd.DataFrame())
            alerts_cand[name] = len(raised)
            if write_alerts and not raised.empty:
                created = now()
                raised["created_at"] = created
                alerts_new[name] = insert_alerts(engine, raised)
                lags += list(((created - raised["bucket_start"] - BUCKET) / pd.Timedelta(minutes=1)).astype(float))
            else:
                alerts_new[name] = 0
    cells = sum(o.cells for o in outcomes)
    scored = set().union(*(o.buckets_scored for o in outcomes)) if outcomes else set()
    per_bucket_out = {b: {"scores": int(n), "animals": 0} for b, n in writer.per_bucket.items()}
    for o in outcomes:
        for b, n in o.champion_animals.items():
            per_bucket_out.setdefault(b, {"scores": 0, "animals": 0})
            per_bucket_out[b]["animals"] += n
    for b, n in totals.items():  # what the run read of each bucket (0: no readings, not scored)
        per_bucket_out.setdefault(pd.Timestamp(b), {"scores": 0, "animals": 0})["readings"] = int(n)
    return ScoringResult(
        window_start=start, window_end=end,
        n_buckets=len(scored),
        n_animals=sum(o.n_animals for o in outcomes),
        n_predictions=sum(o.n_predictions for o in outcomes), alerts_new=alerts_new, alerts_candidates=alerts_cand,
        fallback_use_cases=[n for n, ms in model_sets.items() if ms.fallback],
        models={n: {"champion": f"{ms.champion.name} v{ms.champion.version}",
                    "champion_kind": ms.champion.kind, "fallback": ms.fallback,
                    "challenger": f"{ms.challenger.name} v{ms.challenger.version}" if ms.challenger else None}
                for n, ms in model_sets.items()},
        stage_seconds=timer.seconds, feature_missing_share=sum(o.missing for o in outcomes) / cells if cells else 1.0,
        max_alert_lag_minutes=max(lags) if lags else None, skipped_use_cases=skipped,
        n_readings=int(totals.sum()), buckets_without_readings=sorted(empty),
        lineage_ids={f"{uc}{' (shadow)' if shadow else ''}": lid for (uc, shadow), lid in lineage_ids.items()},
        per_bucket=per_bucket_out, score_bytes_written=writer.bytes_written,
        worker_peak_rss_mb=round(worker_peak_rss_mb(), 1) if pool_stats["worker_chunks"] else 0.0,
        feature_worker_chunks=pool_stats["worker_chunks"],
    )


__all__ = ["DEFAULT_CHUNK_CELLS", "ModelSet", "ScoringLineage", "ScoringResult", "Shard", "animal_chunks",
           "load_model_sets", "prefetch_bucket_window", "score_window", "window_features"]
