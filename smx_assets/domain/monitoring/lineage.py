"""What monitoring needs from MLflow: a champion's training days and its logged metrics.

The training layer records the data a model was trained on on its MLflow run; monitoring reads
it back to draw the drift reference from exactly those days and to compare live performance
with the metrics measured at training. Several spellings are accepted (a run param/tag holding
a day list or a ``start..end`` range, or MLflow dataset inputs whose name/source carries the
day) so a run logged by an older training version still yields a reference; when nothing is
found the caller falls back to the days before the monitored day.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

DAY_RE = re.compile(r"(\d{4}-\d{2}-\d{2})")
# keys holding a list of days, or a range (checked in this order, params then tags)
LIST_KEYS = ("training_days", "smx.training_days", "train_days", "data.days", "smx.data.days")
RANGE_KEYS = (("train_first_day", "train_last_day"), ("train_start", "train_end"), ("data_start", "data_end"),
              ("training_start", "training_end"), ("smx.data.start", "smx.data.end"), ("smx.train_start", "smx.train_end"))
RANGE_STR_KEYS = ("training_range", "data_range", "smx.data_range", "smx.training_range", "train_range")


@dataclass
class RunInfo:
    """A model version's MLflow run as monitoring sees it."""

    model_name: str
    version: str
    run_id: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    training_days: list[pd.Timestamp] = field(default_factory=list)
    days_source: str = "none"


def _days_in(value: Any) -> list[pd.Timestamp]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [pd.Timestamp(v).normalize() for v in value]
    text = str(value)
    try:
        parsed = json.loads(text)
        if isinstance(parsed, list):
            return [pd.Timestamp(v).normalize() for v in parsed]
        if isinstance(parsed, dict) and {"start", "end"} <= set(parsed):
            return _range(parsed["start"], parsed["end"])
    except (ValueError, TypeError):
        pass
    found = DAY_RE.findall(text)
    if ".." in text and len(found) == 2:
        return _range(found[0], found[1])
    return [pd.Timestamp(d) for d in found]


def _range(start: Any, end: Any) -> list[pd.Timestamp]:
    """Inclusive day range (training ranges are written as first..last day)."""
    s, e = pd.Timestamp(str(start)[:10]), pd.Timestamp(str(end)[:10])
    return list(pd.date_range(s, e, freq="D"))


def training_days_from_run(params: Mapping[str, str], tags: Mapping[str, str],
                           dataset_names: Iterable[str] = ()) -> tuple[list[pd.Timestamp], str]:
    """The UTC days of ``training_features`` a run was trained on, and which key said so."""
    for source in (params, tags):
        for key in LIST_KEYS + RANGE_STR_KEYS:
            if key in source and (days := _days_in(source[key])):
                return sorted(set(days)), key
        for a, b in RANGE_KEYS:
            if a in source and b in source:
                return _range(source[a], source[b]), f"{a}/{b}"
    days = sorted({d for name in dataset_names for d in _days_in(name)})
    if days:
        return days, "mlflow dataset inputs"
    return [], "none"


def metric(metrics: Mapping[str, float], name: str) -> float:
    """A training metric by its plain name, whatever prefix the training run used.

    Prefers evaluation splits (``test_``, ``eval_``, ``val_``, ``holdout_``) over unprefixed and
    training-split values, because live performance should be compared with held-out numbers.
    """
    for prefix in ("test_", "test.", "eval_", "eval.", "val_", "val.", "validation_", "holdout_", ""):
        if f"{prefix}{name}" in metrics:
            return float(metrics[f"{prefix}{name}"])
    for key, value in metrics.items():
        if key.endswith(name) and not key.startswith("train"):
            return float(value)
    return math.nan


def run_info(client: Any, model_name: str, version: str, run_id: str | None) -> RunInfo:
    """Metrics and training days of one model version's run (an ``MlflowClient`` is passed in)."""
    info = RunInfo(model_name=model_name, version=str(version), run_id=run_id)
    if not run_id:
        return info
    run = client.get_run(run_id)
    info.metrics = {k: float(v) for k, v in run.data.metrics.items()}
    names: list[str] = []
    inputs = getattr(run, "inputs", None)
    for di in getattr(inputs, "dataset_inputs", None) or []:
        ds = di.dataset
        names += [ds.name or "", getattr(ds, "source", "") or ""]
    info.training_days, info.days_source = training_days_from_run(run.data.params, run.data.tags, names)
    return info


def champion_run_info(client: Any, model_name: str, alias: str = "champion") -> RunInfo | None:
    """The ``alias`` version's :class:`RunInfo`, or None when no such alias is set."""
    from smx_assets.domain.model_registry.registry import get_alias_version

    mv = get_alias_version(model_name, alias, client)
    if mv is None:
        return None
    return run_info(client, model_name, str(mv.version), mv.run_id)
