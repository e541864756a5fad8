"""The capacity model in infra/README.md is the output of bench/capacity_model.py, and the run pods
of the Helm values are sized from the same measurements: a changed input cannot leave a stale
figure in the README or a pod smaller than the run it has to hold."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _capacity_model() -> ModuleType:
    spec = importlib.util.spec_from_file_location("capacity_model", ROOT / "bench" / "capacity_model.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_readme_tables_are_the_models_output() -> None:
    cm = _capacity_model()
    readme = (ROOT / "infra" / "README.md").read_text()
    assert cm.table() in readme, "infra/README.md capacity table is stale: paste `python bench/capacity_model.py`"
    assert cm.inputs_table() in readme, "infra/README.md capacity inputs are stale"


def test_every_input_is_measured_or_named_an_assumption() -> None:
    cm = _capacity_model()
    for name, i in cm.INPUTS.items():
        assert i.value > 0, f"{name} has no value"
        measured = re.search(r"\b(bench_\w+\.py|test_\w+\.py|setting|schema|simulator|choice|influx_store)", i.source)
        assert measured or i.source.startswith("assumption"), f"{name}: source names no measurement: {i.source}"


def test_fleet_scales_linearly_in_shards() -> None:
    cm = _capacity_model()
    small, large = cm.model(100_000), cm.model(1_000_000)
    assert large["shards"] == 10 * small["shards"]
    assert abs(large["cpu_s_per_bucket"] - 10 * small["cpu_s_per_bucket"]) < 1e-6
    assert large["bucket_wall_s"] == small["bucket_wall_s"]  # shards run side by side


def test_run_pods_hold_one_measured_run() -> None:
    """The K8sRunLauncher's pod requests memory for one shard run's measured peak, with headroom
    in the limit, and a whole core (a run is one busy Python process)."""
    cm = _capacity_model()
    values = yaml.safe_load((ROOT / "infra" / "helm" / "values.yaml").read_text())
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    resources = launcher["config"]["k8sRunLauncher"]["runK8sConfig"]["containerConfig"]["resources"]

    def mib(q: str) -> float:
        number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(Mi|Gi)", q).groups()  # type: ignore[union-attr]
        return float(number) * (1024 if unit == "Gi" else 1)

    peak_mb = cm.INPUTS["run_peak_rss_mb_100k"].value
    assert mib(resources["requests"]["memory"]) >= peak_mb * 1e6 / 2**20
    assert mib(resources["limits"]["memory"]) >= 1.25 * mib(resources["requests"]["memory"])
    assert float(resources["requests"]["cpu"]) >= 1
