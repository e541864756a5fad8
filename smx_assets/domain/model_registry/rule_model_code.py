"""A rule baseline as an MLflow model *from code* (the file MLflow stores with the model).

MLflow logs a pyfunc either by pickling a Python object (CloudPickle: loading it executes
whatever the pickle says, hence MLflow's warning) or from a code file like this one plus a
``model_config``. The config names the rule completely: its function as ``module:qualname``,
its parameters and the feature columns it reads; loading runs this file, which imports the
function by name. So a registered rule version keeps the parameters it was registered with,
even after the use case's declaration changes, and nothing is unpickled.

This file is executed by MLflow (at logging and at every load), not imported by smx itself.
"""

from __future__ import annotations

import importlib
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelConfig

from smx_assets.domain.use_cases.base import RuleModel


def rule_from_config(config: dict[str, Any]) -> RuleModel:
    """The :class:`RuleModel` a model config describes (see ``rule_config``)."""
    module, _, qualname = str(config["function"]).partition(":")
    fn = importlib.import_module(module)
    for part in qualname.split("."):
        fn = getattr(fn, part)
    return RuleModel(str(config["name"]), fn, dict(config.get("params") or {}),
                     tuple(config["feature_columns"]))


class RuleCodeModel(mlflow.pyfunc.PythonModel):
    """Scores in [0, 1], one per row, from the configured rule."""

    def __init__(self, rule: RuleModel) -> None:
        self.rule = rule

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None):  # noqa: ANN201
        return self.rule.score(model_input)


mlflow.models.set_model(RuleCodeModel(rule_from_config(ModelConfig().to_dict())))
