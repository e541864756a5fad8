"""Model versions resolved where the registry is already open, carried to the run that loads them.

Why: a scheduled scoring run is a fresh process. Opening its MLflow client on the embedded store
(importing MLflow's SQL store module: 0.4-0.5 s measured) and resolving six aliases (0.2 s) cost
more than loading the versions themselves from the local model cache. The scoring sensor runs in
the long-lived code server, which has both already: it resolves each use case's champion and
challenger once per tick and writes them into the run's ``smx/models`` tag. The run then loads
exactly those versions (a registered version never changes content) and never opens the registry
unless a version is not in its cache yet. A run without the tag (a UI materialisation, a
backfill) resolves its own aliases as before. The versions a run scored with are its lineage
either way; the tag also shows in the run's page which versions the sensor asked for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from smx_assets.domain.model_registry.registry import CHALLENGER, get_alias_version, resolve_champion, version_kind
from smx_assets.domain.model_registry.tracking import TAG_KIND

TAG = "smx/models"
ROLES = ("champion", "challenger")


@dataclass(frozen=True)
class PinnedVersion:
    """What loading a version needs without asking the registry (the ``ModelVersion`` fields
    :func:`~smx_assets.domain.model_registry.registry.load_version` reads, and how it was found)."""

    name: str
    version: str
    source: str | None
    run_id: str | None
    alias: str | None
    kind: str | None
    fallback: bool = False

    @property
    def tags(self) -> dict[str, str]:
        return {TAG_KIND: self.kind} if self.kind else {}


Pins = dict[str, dict[str, PinnedVersion | None]]


def _pin(mv: Any, alias: str | None, client: Any, fallback: bool = False) -> PinnedVersion:
    return PinnedVersion(name=mv.name, version=str(mv.version), source=mv.source, run_id=mv.run_id,
                         alias=alias, kind=version_kind(mv, client), fallback=fallback)


def resolve_pins(use_cases: Sequence[Any], client: Any) -> Pins:
    """Each use case's champion (the rule baseline when none: ``fallback``) and challenger as the
    registry names them now. Raises ``NoModelError`` like scoring does when a use case has neither."""
    pins: Pins = {}
    for uc in use_cases:
        champion = resolve_champion(uc.model_name, fallback_name=uc.rule_model_name, client=client)
        challenger = get_alias_version(uc.model_name, CHALLENGER, client)
        pins[uc.name] = {
            "champion": _pin(champion.version, champion.alias, client, fallback=champion.fallback),
            "challenger": None if challenger is None else _pin(challenger, CHALLENGER, client),
        }
    return pins


def to_tag(pins: Pins) -> str:
    return json.dumps({uc: {role: (asdict(p) if p else None) for role, p in roles.items()}
                       for uc, roles in pins.items()}, separators=(",", ":"), sort_keys=True)


def from_tag(text: str | None) -> Pins | None:
    """The pins a tag holds; None for no tag. A tag that is not what :func:`to_tag` writes raises
    ``ValueError`` naming the problem (the run then resolves its own aliases and says why)."""
    if not text:
        return None
    try:
        raw = json.loads(text)
        if not isinstance(raw, Mapping):
            raise TypeError("not an object")
        pins: Pins = {}
        for uc, roles in raw.items():
            pins[str(uc)] = {role: (None if roles.get(role) is None else PinnedVersion(**roles[role])) for role in ROLES}
            if pins[str(uc)]["champion"] is None:
                raise ValueError(f"{uc}: no champion")
        return pins
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"unreadable {TAG} tag ({type(exc).__name__}: {exc})") from None


__all__ = ["ROLES", "TAG", "PinnedVersion", "Pins", "from_tag", "resolve_pins", "to_tag"]
