"""Promotion and rollback of ``champion``: the decision, carrying it out, and going back.

Part of the ``model_registry`` package. Promotion history lives in the registered-model tag
``smx.champion_history`` (JSON list of versions, newest last), which :func:`rollback` walks back.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mlflow import MlflowClient

from smx_assets.domain import run_hygiene
from smx_assets.domain.model_registry.registry import (
    CHAMPION,
    NoModelError,
    ensure_registered_model,
    get_alias_version,
    version_kind,
)
from smx_assets.domain.model_registry.tracking import TAG_KIND, _client

TAG_HISTORY = "smx.champion_history"
TAG_COPIED_FROM = "smx.copied_from"
HISTORY_MAX = 50


# -------------------------------------------------------------------------- promotion


@dataclass(frozen=True)
class PromotionDecision:
    """Whether ``champion`` moves, to what, and why (recorded as tags and asset metadata)."""

    promote: bool
    winner: Literal["challenger", "baseline", "champion"]
    reason: str
    numbers: dict[str, float]
    first_time: bool
    primary: str = "f1"

    def as_tags(self, prefix: str = "smx.promotion.") -> dict[str, str]:
        return {f"{prefix}decision": "promoted" if self.promote else "rejected",
                f"{prefix}winner": self.winner,
                f"{prefix}reason": self.reason[:4000],
                f"{prefix}primary": self.primary,
                f"{prefix}numbers": json.dumps(self.numbers, sort_keys=True, default=float),
                f"{prefix}decided_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def _metric(metrics: Mapping[str, Any] | None, key: str) -> float:
    if metrics is None:
        return math.nan
    v = metrics.get(key)
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


_CONTEXT_METRICS = ("sensitivity", "precision", "lead_time_median_h", "false_alerts_per_100_cow_days")


def insufficient_evidence(message: str, *, first_time: bool) -> PromotionDecision:
    """Too few events to tell models apart: a distinct outcome, never a NaN comparison.

    A first champion is the rule baseline (simple, explainable, needs no evidence of its own);
    an existing champion is kept. ``message`` says how many events there were and how many
    are needed.
    """
    if first_time:
        return PromotionDecision(True, "baseline", f"first champion: rule baseline, not enough evidence to "
                                 f"choose the challenger ({message})", {}, True)
    return PromotionDecision(False, "champion", f"champion kept, not enough evidence ({message})", {}, False)


def decide_promotion(
    challenger_metrics: Mapping[str, Any],
    champion_metrics: Mapping[str, Any] | None,
    baseline_metrics: Mapping[str, Any],
    margin: float = 0.02,
    *,
    primary: str = "f1",
) -> PromotionDecision:
    """Decide on the primary metric (event-level F1 by default; higher is better).

    * No champion yet: the better of challenger and rule baseline becomes champion. A tie, or a
      challenger without a usable number, goes to the baseline: it is simpler and explainable.
    * Otherwise the challenger must beat BOTH the champion and the baseline by at least
      ``margin`` (absolute, in metric units); a missing (NaN) number never promotes. Beating
      only the champion is not enough: a champion that has decayed below the rule should not
      be replaced by another model that is still no better than the rule.
    """
    c = _metric(challenger_metrics, primary)
    b = _metric(baseline_metrics, primary)
    numbers = {f"challenger_{primary}": c, f"baseline_{primary}": b, "margin": float(margin)}
    # Context for the recorded decision (not used to decide): the event-level companions.
    for who, m in (("challenger", challenger_metrics), ("champion", champion_metrics), ("baseline", baseline_metrics)):
        for key in _CONTEXT_METRICS:
            if m is not None and key in m and key != primary:
                numbers[f"{who}_{key}"] = _metric(m, key)
    if champion_metrics is None:
        if not math.isnan(c) and (math.isnan(b) or c > b):
            return PromotionDecision(True, "challenger", f"first champion: challenger {primary} {c:.4f} "
                                     f"beats rule baseline {b:.4f}", numbers, True, primary)
        return PromotionDecision(True, "baseline", f"first champion: rule baseline {primary} {b:.4f} is not "
                                 f"beaten by challenger {c:.4f}", numbers, True, primary)
    h = _metric(champion_metrics, primary)
    numbers[f"champion_{primary}"] = h
    if any(math.isnan(x) for x in (c, h, b)):
        return PromotionDecision(False, "champion", f"missing {primary}: challenger {c}, champion {h}, "
                                 f"baseline {b}; champion kept", numbers, False, primary)
    beats_champion = c >= h + margin
    beats_baseline = c >= b + margin
    if beats_champion and beats_baseline:
        return PromotionDecision(True, "challenger", f"challenger {primary} {c:.4f} beats champion {h:.4f} "
                                 f"and baseline {b:.4f} by >= {margin}", numbers, False, primary)
    why = []
    if not beats_champion:
        why.append(f"champion {h:.4f}")
    if not beats_baseline:
        why.append(f"baseline {b:.4f}")
    return PromotionDecision(False, "champion", f"challenger {primary} {c:.4f} does not beat "
                             f"{' and '.join(why)} by {margin}; champion kept", numbers, False, primary)


def champion_history(name: str, client: MlflowClient | None = None) -> list[str]:
    tags = _client(client).get_registered_model(name).tags or {}
    try:
        return [str(v) for v in json.loads(tags.get(TAG_HISTORY, "[]"))]
    except (TypeError, ValueError):
        return []


def _set_history(client: MlflowClient, name: str, history: list[str]) -> None:
    client.set_registered_model_tag(name, TAG_HISTORY, json.dumps(history[-HISTORY_MAX:]))


def _move_champion(client: MlflowClient, name: str, version: str) -> None:
    """Point ``champion`` at ``version`` and append it to the history (if it is not the last)."""
    history = champion_history(name, client)
    current = get_alias_version(name, CHAMPION, client)
    if current is not None and (not history or history[-1] != str(current.version)):
        history.append(str(current.version))  # alias moved by hand (UI): keep the trail honest
    client.set_registered_model_alias(name, CHAMPION, version)
    if not history or history[-1] != version:
        history.append(version)
    _set_history(client, name, history)
    _tag_champion_kind(client, name, version)


def _tag_champion_kind(client: MlflowClient, name: str, version: str) -> None:
    """The registered model's ``smx.model_kind`` says what its champion is (a rule copy or ML),
    so the registry page never calls a model whose champion is a rule "ml" (the version's tag,
    else its training run's, as for loading: :func:`version_kind`)."""
    kind = version_kind(client.get_model_version(name, version), client)
    if kind:
        client.set_registered_model_tag(name, TAG_KIND, kind)


def apply_promotion(
    decision: PromotionDecision,
    *,
    model_name: str,
    challenger_version: str | int | None,
    baseline_model_name: str | None = None,
    baseline_version: str | int | None = None,
    run_id: str | None = None,
    client: MlflowClient | None = None,
) -> str | None:
    """Carry out ``decision``: move ``champion`` and record the decision; returns the new
    champion version of ``model_name`` (None when it stays).

    When the rule baseline wins, its version is copied into ``model_name`` (tagged
    ``smx.model_kind=rule``), so scoring always loads ``models:/smx-<uc>@champion`` whatever
    won. The decision is tagged on the challenger version (promoted or rejected), on the new
    champion version, and on ``run_id`` (the promotion's MLflow run) when given.
    """
    client = _client(client)
    tags = decision.as_tags()
    previous = get_alias_version(model_name, CHAMPION, client)
    tags["smx.promotion.previous_champion"] = str(previous.version) if previous else ""
    new_version: str | None = None
    if decision.promote:
        if decision.winner == "challenger":
            if challenger_version is None:
                raise ValueError("challenger won but no challenger_version given")
            new_version = str(challenger_version)
        elif decision.winner == "baseline":
            if baseline_model_name is None or baseline_version is None:
                raise ValueError("baseline won but no baseline model/version given")
            src = f"{baseline_model_name}/{baseline_version}"
            ensure_registered_model(model_name, client=client)
            new_version = _copy_version(client, baseline_model_name, str(baseline_version), model_name)
            client.set_model_version_tag(model_name, new_version, TAG_KIND, "rule")
            client.set_model_version_tag(model_name, new_version, TAG_COPIED_FROM, src)
        else:  # pragma: no cover - decide_promotion never produces this
            raise ValueError(f"cannot promote winner {decision.winner!r}")
        _move_champion(client, model_name, new_version)
        tags["smx.promotion.new_champion"] = new_version
    # Per version, "decision" says what happened to *that* version: a challenger that lost to
    # the baseline is "rejected" even though champion moved.
    targets: dict[str, str] = {}
    if challenger_version is not None:
        targets[str(challenger_version)] = "rejected"
    if new_version is not None:
        targets[new_version] = "promoted"
    for v, outcome in targets.items():
        for k, val in {**tags, "smx.promotion.decision": outcome}.items():
            client.set_model_version_tag(model_name, v, k, val)
    if run_id is not None:
        for k, val in tags.items():
            client.set_tag(run_id, k, val)
    return new_version


# --------------------------------------------------------------------------- rollback


@dataclass(frozen=True)
class RollbackResult:
    name: str
    old_version: str | None
    new_version: str


def rollback(name: str, to_version: str | int | None = None, *,
             client: MlflowClient | None = None, force: bool = False) -> RollbackResult:
    """Point ``champion`` back: to ``to_version``, or by default to the previous champion.

    The default walks the ``smx.champion_history`` tag one step back and drops the current
    entry, so repeated rollbacks keep going back. Rolling to an explicit version appends it,
    like a promotion would. Both versions are tagged with what happened and when. A version
    that never completed registration and evaluation is refused unless ``force``
    (:class:`run_hygiene.UnreadyVersionError`).
    """
    client = _client(client)
    current = get_alias_version(name, CHAMPION, client)
    old = str(current.version) if current is not None else None
    history = champion_history(name, client)
    if old is not None and (not history or history[-1] != old):
        history.append(old)
    if to_version is None:
        if len(history) < 2:
            raise NoModelError(f"{name}: no previous champion to roll back to (history {history})")
        new = history[-2]
        history = history[:-1]
        run_hygiene.refuse_unready(client.get_model_version(name, new), force=force)
    else:
        new = str(to_version)
        run_hygiene.refuse_unready(client.get_model_version(name, new), force=force)  # raises if missing
        if not history or history[-1] != new:
            history.append(new)
    client.set_registered_model_alias(name, CHAMPION, new)
    _tag_champion_kind(client, name, new)
    _set_history(client, name, history)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    client.set_model_version_tag(name, new, "smx.rollback.restored_at", now)
    client.set_model_version_tag(name, new, "smx.rollback.from_version", old or "")
    if old is not None and old != new:
        client.set_model_version_tag(name, old, "smx.rollback.rolled_back_at", now)
    return RollbackResult(name=name, old_version=old, new_version=new)


def _copy_version(client: Any, src_name: str, src_version: str, dst_name: str) -> str:
    """``client.copy_model_version`` without its console output.

    MLflow's copy prints "Registered model ... already exists" and "Copied version ..." to
    stderr with ``eprint`` (no logger to quiet), two lines in every demo and training run.
    This creates the same version the same way (source ``models:/src/version``, the source's
    run, tags, run link, description and logged model).
    """
    src = client.get_model_version(src_name, src_version)
    copied = client.create_model_version(
        dst_name, f"models:/{src_name}/{src_version}", run_id=src.run_id, tags=dict(src.tags),
        run_link=src.run_link, description=src.description, model_id=getattr(src, "model_id", None))
    return str(copied.version)
