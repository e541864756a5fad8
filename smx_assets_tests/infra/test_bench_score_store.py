"""bench/bench_score_store.py runs end to end against a real InfluxDB and the real score store
(``--quick``: a few hundred animals) and its JSON line carries every figure infra/README.md's
"Where scores live" table is made of, each a positive number."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PER_BACKEND = ("write_s", "bytes_per_score", "bytes_per_score_day", "cow_7d_s", "champion_day_s", "retention_s",
               "compact_s", "load_s")


def test_quick_bench_prints_every_figure_as_a_positive_number() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_score_store.py"), "--quick", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    keys = [f"{b}_{k}" for b in ("parquet", "influx") for k in PER_BACKEND]
    keys += ["parquet_cow_7d_arrow_s", "parquet_champion_day_arrow_s",
             "influx_retention_delete_s", "influx_rss_mb", "influx_peak_rss_mb", "influx_series", "animals",
             "day_animals", "buckets"]
    missing = [k for k in keys if k not in result]
    assert not missing, f"missing keys {missing} in {result}"
    bad = {k: result[k] for k in keys if not (isinstance(result[k], (int, float)) and result[k] > 0)}
    assert not bad, f"not positive numbers: {bad}"
    assert result["influx_series"] == result["animals"] * 6  # six series a cow: 3 use cases x 2 roles
    assert result["buckets"] >= 6
    assert "write one bucket" in proc.stdout and "bytes per score" in proc.stdout  # the printed table
