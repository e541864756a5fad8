"""The one use-case registry: heat, calving, fever.

Training, promotion, scoring and monitoring all iterate :func:`all_use_cases`; adding a model
means adding a module like ``heat.py`` and one entry in :data:`CATALOG`. (There used to be a
second, mutable registry in ``base.py`` that the catalog copied itself into; two registries
could disagree, so this tuple is the only one.)
"""

from __future__ import annotations

from collections.abc import Iterable

from smx_assets.domain.use_cases.base import UseCase
from smx_assets.domain.use_cases.calving import CALVING
from smx_assets.domain.use_cases.fever import FEVER
from smx_assets.domain.use_cases.heat import HEAT


def index_by_name(use_cases: Iterable[UseCase]) -> dict[str, UseCase]:
    """Name -> use case; a duplicate name is a bug (two models would share one registry entry)."""
    out: dict[str, UseCase] = {}
    for uc in use_cases:
        if uc.name in out:
            raise ValueError(f"use case {uc.name!r} is already registered")
        out[uc.name] = uc
    return out


CATALOG: tuple[UseCase, ...] = (HEAT, CALVING, FEVER)
_BY_NAME = index_by_name(CATALOG)


def all_use_cases() -> list[UseCase]:
    """The catalog's use cases, in catalog order."""
    return list(CATALOG)


def use_case(name: str) -> UseCase:
    """One catalog use case by name (``heat``, ``calving``, ``fever``)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown use case {name!r} (known: {', '.join(_BY_NAME)})") from None
