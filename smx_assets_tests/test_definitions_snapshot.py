"""Every Dagster object of the code location, held against a stored snapshot.

The snapshot (``definitions_snapshot.json`` next to this file) lists each asset key with its
group, partitions definition, owners, kinds and dependencies, every asset check, job (with its
selection and executor), schedule (cron, default status), sensor (jobs, default status) and
partitions definition. Moving code between modules must leave it unchanged; adding or renaming
a Dagster object changes it on purpose, and the same commit updates the file:

    .venv/bin/python -m smx_assets_tests.test_definitions_snapshot   # rewrites the snapshot
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")
# Variables that decide default statuses: unset so the snapshot describes the defaults.
_STATUS_VARS = ("SMX_LIVE_SIMULATION", "SMX_TRAINING_SCHEDULE")
# The partition windows roll with the clock: the snapshot is taken with the suite's windows
# (conftest: reaching back to the fixed test-data day), so its partition starts are fixed.


def _partitions(pdef: Any) -> str | None:
    if pdef is None:
        return None
    if isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        return f"time_window(cron={pdef.cron_schedule}, fmt={pdef.fmt}, start={pdef.start.isoformat()}, tz={pdef.timezone})"
    return type(pdef).__name__


def describe(defs: dg.Definitions) -> dict[str, Any]:
    """A JSON-able description of every object ``defs`` holds (sorted, so diffs are readable)."""
    repo = defs.get_repository_def()
    graph = defs.resolve_asset_graph()
    assets: dict[str, Any] = {}
    partitions: set[str] = set()
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        pdef = _partitions(node.partitions_def)
        if pdef:
            partitions.add(pdef)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": pdef,
            "owners": sorted(node.owners),
            "kinds": sorted(node.kinds),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "tags": {k: v for k, v in sorted(node.tags.items()) if not k.startswith("dagster/kind/")},
            "backfill_policy": str(node.backfill_policy.policy_type.value) if node.backfill_policy else None,
            "materializable": node.is_materializable,
        }
    checks = sorted(k.to_user_string() for k in graph.asset_check_keys)
    jobs: dict[str, Any] = {}
    for job in sorted(repo.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__ASSET_JOB"):
            continue
        jobs[job.name] = {
            "executor": job.executor_def.name,
            "tags": {k: str(v) for k, v in sorted(job.tags.items())},
            "ops": sorted(job.graph.node_dict),
            "partitions": _partitions(job.partitions_def),
        }
    schedules = {
        s.name: {"cron": s.cron_schedule, "job": s.job_name, "default_status": s.default_status.value,
                 "timezone": s.execution_timezone}
        for s in sorted(repo.schedule_defs, key=lambda s: s.name)
    }
    sensors = {
        s.name: {"jobs": sorted(j.name for j in s.jobs), "default_status": s.default_status.value,
                 "minimum_interval_seconds": s.minimum_interval_seconds}
        for s in sorted(repo.sensor_defs, key=lambda s: s.name)
    }
    return {
        "assets": assets,
        "checks": checks,
        "jobs": jobs,
        "schedules": schedules,
        "sensors": sensors,
        "partitions": sorted(partitions),
        "groups": sorted({a["group"] for a in assets.values()}),
        "resources": sorted(defs.resources or {}),
    }


def _load() -> dg.Definitions:
    import smx_assets.definitions as module

    return importlib.reload(module).defs


def test_definitions_match_the_snapshot(smx_home, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in _STATUS_VARS:
        monkeypatch.delenv(var, raising=False)
    current = describe(_load())
    stored = json.loads(SNAPSHOT.read_text())
    for section in stored:
        assert current.get(section) == stored[section], (
            f"definitions section {section!r} differs from {SNAPSHOT.name}; if the change is intended, "
            "rerun `python -m smx_assets_tests.test_definitions_snapshot` and commit the file")
    assert set(current) == set(stored)


if __name__ == "__main__":  # pragma: no cover - rewrites the snapshot on purpose
    import os
    import tempfile

    import smx_assets_tests.conftest  # noqa: F401 - the suite's partition windows

    for var in _STATUS_VARS:
        os.environ.pop(var, None)
    os.environ["SMX_HOME"] = tempfile.mkdtemp(prefix="smx-snapshot-")
    SNAPSHOT.write_text(json.dumps(describe(_load()), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT}", file=sys.stderr)
