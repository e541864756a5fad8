"""The platform's use cases, registered once: heat, calving, fever.

Training, promotion, scoring and monitoring all iterate :func:`all_use_cases`; adding a model
means adding a module like ``heat.py`` and one line here.
"""

from __future__ import annotations

import threading

from smx_assets.domain.use_cases.base import USE_CASES, UseCase, register_use_case
from smx_assets.domain.use_cases.calving import CALVING
from smx_assets.domain.use_cases.fever import FEVER
from smx_assets.domain.use_cases.heat import HEAT

CATALOG: tuple[UseCase, ...] = (HEAT, CALVING, FEVER)
_lock = threading.Lock()


def all_use_cases() -> list[UseCase]:
    """The catalog's use cases, registered in ``USE_CASES`` on first call (idempotent)."""
    with _lock:
        for uc in CATALOG:
            if USE_CASES.get(uc.name) is not uc:
                register_use_case(uc, replace=uc.name in USE_CASES)
    return list(CATALOG)


def use_case(name: str) -> UseCase:
    """One catalog use case by name (``heat``, ``calving``, ``fever``)."""
    for uc in all_use_cases():
        if uc.name == name:
            return uc
    raise KeyError(f"unknown use case {name!r} (known: {', '.join(u.name for u in CATALOG)})")
