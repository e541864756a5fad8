"""Recompute one stored score (an alert's, or any) from its raw inputs and compare.

Stages, each reported with its own figures:

1. inputs: the animal's readings and the climate as known when the bucket was scored
   (``known.py``), the farm records as known then (``FarmRecords.known_by``);
2. features: ``compute_features`` (the serving path) over them, compared with the stored vector
   bit for bit, every column;
3. score: the exact model version the score names (``models:/NAME/VERSION``, not today's
   champion), compared with the stored score exactly;
4. alert (alerts only): the use case's alert policy over the stored champion scores before the
   bucket plus the replayed one must raise the alert at the same bucket again;
5. code version: recorded against running; a difference is reported, the replay still runs.

``identical`` is true only when features, score and (for an alert) the alert all match. What
makes a replay impossible is a :class:`ReplayError` (one line, ``smx replay`` exits 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from sqlalchemy.engine import Engine

from smx_assets.domain.features.pipeline import LOOKBACK, compute_features
from smx_assets.domain.features.profile import FarmRecords, active_animals, load_herd_records
from smx_assets.domain.features.storage import BASELINES, FeatureFiles
from smx_assets.domain.model_registry.registry import LoadedModel, ModelLoadError, load_version
from smx_assets.domain.replay.compare import compare_vectors, same_value
from smx_assets.domain.replay.known import ReplayError, known_inputs, readings_needed_from
from smx_assets.domain.replay.targets import Target, stored_vector
from smx_assets.domain.score_store.store import ScoreStore
from smx_assets.domain.scoring.outputs import alerts_near
from smx_assets.domain.sensor_store.base import SensorStore, SensorStoreError
from smx_assets.domain.time_grid import BUCKET, day_start, utc
from smx_assets.domain.use_cases.alerting import apply_alert_policy
from smx_assets.domain.use_cases.catalog import use_case

KEYS = ("animal_id", "bucket_start")


@dataclass
class ReplayReport:
    """The outcome of one replay (``as_dict`` is what ``smx replay --json`` prints)."""

    target: Target
    identical: bool
    inputs: dict[str, Any]
    features: dict[str, Any]
    score: dict[str, Any]
    alert: dict[str, Any] | None
    code_version: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def first_difference(self) -> str:
        """One line naming what differs first (features, then score, then alert), or ''."""
        if self.identical:
            return ""
        if not self.features["identical"]:
            cols = [d["column"] for d in self.features["differing"]]
            return f"features differ in {len(cols)} column(s): {', '.join(cols[:6])}{' ...' if len(cols) > 6 else ''}"
        if not self.score["identical"]:
            return f"score {self.score['replayed']!r} != stored {self.score['stored']!r}"
        return "the alert policy does not raise the alert at this bucket again"

    def as_dict(self) -> dict[str, Any]:
        t = self.target
        return {
            "replayed": t.label, "kind": t.kind, "alert_id": t.alert_id, "use_case": t.use_case, "shadow": t.shadow,
            "animal_id": t.animal_id, "bucket_start": t.bucket.isoformat(), "identical": self.identical,
            "first_difference": self.first_difference or None,
            "known_at": t.known_at.isoformat(), "known_at_source": t.known_at_source,
            "inputs": self.inputs, "features": self.features, "score": self.score, "alert": self.alert,
            "code_version": self.code_version, "notes": [*t.notes, *self.notes],
        }


@dataclass
class Replayer:
    """The stores a replay reads; herd records and model versions are loaded once per replayer."""

    engine: Engine
    store: SensorStore
    files: FeatureFiles
    scores: ScoreStore
    client: Any  # MlflowClient on the registry the scores were made with
    running_code_version: str
    readings_kept_from: pd.Timestamp | None = None  # the oldest reading retention still keeps
    _records: FarmRecords | None = None
    _models: dict[tuple[str, str], LoadedModel] = field(default_factory=dict)

    def records(self) -> FarmRecords:
        if self._records is None:
            self._records = load_herd_records(self.engine)
        return self._records

    def model(self, name: str, version: str) -> LoadedModel:
        """``models:/name/version`` (loaded once); :class:`ReplayError` when it is gone."""
        key = (name, str(version))
        if key not in self._models:
            try:
                mv = self.client.get_model_version(name, str(version))
            except MlflowException as exc:
                raise ReplayError(f"model {name} version {version} is no longer in the registry "
                                  f"({getattr(exc, 'error_code', type(exc).__name__)})") from None
            try:
                self._models[key] = load_version(mv, alias=None, client=self.client)
            except ModelLoadError as exc:
                raise ReplayError(str(exc).splitlines()[0]) from None
        return self._models[key]

    def _baselines_known_at(self, day: pd.Timestamp, known_at: pd.Timestamp) -> tuple[pd.Timestamp, str]:
        """When the run's baselines of ``day`` were written (the day's file), if before the run:
        readings that arrived after that did not count in them."""
        path = self.files.path(BASELINES, day)
        try:
            written = utc(pd.Timestamp(self.files.fs.modified(path)))
        except (FileNotFoundError, OSError, NotImplementedError):
            return known_at, "the run's known-at time (no stored baselines file)"
        if written < known_at:
            return written, "when the day's baselines file was written"
        return known_at, "the run's known-at time (the baselines file was written after the run)"

    def replay(self, target: Target) -> ReplayReport:
        try:
            uc = use_case(target.use_case)
        except KeyError as exc:
            raise ReplayError(str(exc).strip("'\"")) from None
        bucket = target.bucket
        # the run's vectors were computed over its whole window: the replay computes the same
        # block for this animal (one bucket alone sums some windows in another order, ~1e-15 apart)
        ws = target.window_start if target.window_start is not None else bucket
        we = target.window_end if target.window_end is not None else bucket + BUCKET
        need = readings_needed_from(ws)
        if self.readings_kept_from is not None and need < self.readings_kept_from:
            raise ReplayError(
                f"readings no longer kept: {target.label} needs readings from {need:%Y-%m-%d %H:%M} UTC, retention "
                f"keeps them from {self.readings_kept_from:%Y-%m-%d} (SMX_RETENTION_READINGS_DAYS)")
        model = self.model(target.model_name, target.model_version)

        days = list(pd.date_range(day_start(ws), day_start(we - BUCKET), freq="D"))
        cuts = {d: self._baselines_known_at(d, target.known_at) for d in days}
        inputs = known_inputs(self.store, target.animal_id, (ws, we), target.known_at,
                              {d: at for d, (at, _why) in cuts.items()})
        records = self.records().known_by(target.known_at)
        readings, ids = self._with_companion(inputs.window, records, target.animal_id, (ws, we))
        block = compute_features(readings, inputs.climate, records, inputs.baselines, (ws, we), animal_ids=ids)
        at_bucket = ((block["animal_id"] == target.animal_id) & (block["bucket_start"] == bucket)).to_numpy() \
            if len(block) else np.zeros(0, dtype=bool)
        replayed = block.loc[at_bucket].reset_index(drop=True)
        at, why = cuts[day_start(bucket)]
        inputs_doc: dict[str, Any] = {**inputs.counts(), "run_window": f"{ws.isoformat()}..{we.isoformat()}",
                                      "baselines_known_at": at.isoformat(), "baselines_known_at_source": why}
        notes: list[str] = []
        if replayed.empty:
            row: dict[str, Any] = {}
            notes.append("the replay gives no feature vector for this animal and bucket (no bolus, or not active)")
        else:
            row = replayed.iloc[0].to_dict()

        features = self._compare_features(target, row)
        if row:
            # the whole block, as the run scored its chunk: a model's batch path gives the run's numbers
            replayed_score = float(model.predict_scores(block)[np.flatnonzero(at_bucket)[0]])
        else:
            replayed_score = float("nan")
        score_same = same_value(target.stored_score, replayed_score)
        score = {"model": f"{model.name} v{model.version}", "model_uri": f"models:/{model.name}/{model.version}",
                 "stored": target.stored_score, "replayed": replayed_score if row else None, "identical": score_same,
                 "delta": None if score_same or replayed_score != replayed_score else replayed_score - target.stored_score}
        alert = self._alert_again(target, uc, replayed_score) if target.kind == "alert" else None
        code = {"recorded": target.code_version, "running": self.running_code_version,
                "same": target.code_version == self.running_code_version}
        if not code["same"]:
            notes.append(f"code version differs: recorded {target.code_version}, running {self.running_code_version}")
        identical = features["identical"] and score_same and (alert is None or alert["raised_again"])
        return ReplayReport(target=target, identical=bool(identical), inputs=inputs_doc, features=features,
                            score=score, alert=alert, code_version=code, notes=notes)

    def _with_companion(self, readings: pd.DataFrame, records: FarmRecords, animal_id: int,
                        window: tuple[pd.Timestamp, pd.Timestamp]) -> tuple[pd.DataFrame, list[int]]:
        """The animal's readings plus one other active animal's, and both ids.

        A scoring run computes a block of many animals at once. NumPy sums a block of one
        animal in another order than a block of several (measured: 2, 25 and 400 animals agree
        bit for bit, one animal alone differs in the last bit of ``temp_dev_hod_2h`` and the
        ``activity_ratio_hod_*`` columns), so the replay computes two animals and keeps one.
        The companion's numbers are never looked at; a herd of one animal is computed alone."""
        ws, we = window
        others = [int(a) for a in active_animals(records, ws, we) if int(a) != int(animal_id)]
        if not others:
            return readings, [int(animal_id)]
        companion = others[0]
        try:
            theirs = self.store.read_bolus(ws - LOOKBACK, we, [companion])
        except SensorStoreError as exc:
            raise ReplayError(f"sensor store unreachable: {exc}") from None
        both = pd.concat([readings, theirs], ignore_index=True).sort_values(["animal_id", "ts"], kind="stable",
                                                                             ignore_index=True)
        return both, sorted([int(animal_id), companion])

    def _compare_features(self, target: Target, row: dict[str, Any]) -> dict[str, Any]:
        compared: list[str] = []
        diffs = []
        n_columns = 0
        vector = stored_vector(self.files, target.feature_ref, target.bucket) if target.vector_is_the_runs else None
        if vector is not None:
            compared.append(f"the stored vector ({target.feature_ref})")
            found = compare_vectors(vector, row) if row else compare_vectors(vector, {}, vector.keys())
            diffs += found
            n_columns = len(set(vector) | set(row))
        if target.alert_features is not None:
            compared.append("the alert row's copy of the model's features")
            cols = list(target.alert_features)
            seen = {d.column for d in diffs}
            diffs += [d for d in compare_vectors(target.alert_features, row, cols) if d.column not in seen]
            n_columns = max(n_columns, len(cols))
        if not compared:
            return {"identical": False, "compared_with": "nothing: no stored vector is left for this score",
                    "columns_compared": 0, "differing": []}
        return {"identical": not diffs, "compared_with": " and ".join(compared), "columns_compared": n_columns,
                "differing": [d.as_dict() for d in diffs]}

    def _alert_again(self, target: Target, uc: Any, replayed_score: float) -> dict[str, Any]:
        """The use case's alert policy over the stored champion scores before the bucket and the
        replayed score at it, with the animal's earlier alerts for the refractory period."""
        policy = uc.alert_policy
        bucket = target.bucket
        history = self.scores.read(bucket - policy.lookback, bucket, use_case=target.use_case, shadow=False,
                                   animal_ids=[target.animal_id], lineage=())
        history = history.loc[history["animal_id"] == target.animal_id, ["animal_id", "bucket_start", "score"]]
        current = pd.DataFrame({"animal_id": [target.animal_id], "bucket_start": [bucket], "score": [replayed_score]})
        scores = pd.concat([history, current], ignore_index=True) if len(history) else current
        before = alerts_near(self.engine, target.use_case, bucket - policy.refractory, bucket,
                             animal_ids=[target.animal_id])
        last = before.groupby("animal_id")["bucket_start"].max().to_dict() if len(before) else {}
        raised = apply_alert_policy(scores, policy, last_alert_at=last, emit_from=bucket)
        again = bool(len(raised) and (raised["bucket_start"] == bucket).any())
        return {"raised_again": again, "history_scores": int(len(history)),
                "history_from": (bucket - policy.lookback).isoformat(),
                "threshold_recorded": target.threshold, "threshold_now": float(policy.threshold),
                "earlier_alerts_in_refractory": int(len(before))}


__all__ = ["ReplayReport", "Replayer"]
