"""Use cases (heat, calving, fever): declarations, alert policies and event-level evaluation.

Pure pandas/numpy; importing this package must stay cheap (the 10-minute scoring path imports
it), so MLflow lives in ``smx_assets.domain.model_registry`` instead.
"""

from smx_assets.domain.features.profile import FarmRecords
from smx_assets.domain.use_cases.base import (
    USE_CASES,
    AlertPolicy,
    EventMatching,
    RuleModel,
    UseCase,
    get_use_case,
    model_name_for,
    register_use_case,
    rule_model_name_for,
)

__all__ = [
    "USE_CASES", "AlertPolicy", "EventMatching", "FarmRecords", "RuleModel", "UseCase",
    "get_use_case", "model_name_for", "register_use_case", "rule_model_name_for",
]
