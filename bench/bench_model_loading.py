"""How long a scoring run spends loading its models (issue 26: at most 1 s a run).

Each scoring run is a fresh process under ``dagster dev`` (one per run), so each measured run
here is a fresh Python process too, doing what ``scores`` does before it reads any data:
``MlflowResource.client()`` and ``load_model_sets(all_use_cases())`` (each use case's champion
and challenger). The process reports the seconds of that call (``load_models`` in the run's
``stage_seconds``), split into creating the MLflow client, importing scikit-learn (for cached
ML models: the library, needed to score with them whatever the loading) and resolving the
aliases and loading the versions, and how many versions it downloaded from the MLflow store.

Run after ``smx demo`` (uses its ``SMX_HOME``)::

    python bench/bench_model_loading.py [--runs 5] [--cold]

By default each run is measured as the scoring sensor launches it: the sensor (in the long-lived
code server) resolves the versions and hands them to the run in its ``smx/models`` tag, so the
run opens no registry client unless a version is missing from its cache (``--resolve``: the run
resolves the aliases itself, as a UI materialisation or a backfill does). The figures printed
per run say which, and whether the run imported MLflow's SQL store module.

``--cold`` empties the local model cache (``$SMX_HOME/model_cache``) before the first run, so
the first run downloads and the next ones read the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
from smx_assets import settings
from smx_assets.resources import MlflowResource
from smx_assets.domain.scoring.engine import load_model_sets
from smx_assets.domain.use_cases.catalog import all_use_cases
import smx_assets.definitions  # what a run worker has imported before the step starts
t_import = time.perf_counter() - t0
from smx_assets.domain.model_registry import pins
pinned = pins.from_tag(os.environ.get("SMX_BENCH_PINS"))
t0 = time.perf_counter()
resource = MlflowResource(tracking_uri=settings.current().mlflow_tracking_uri)
client = resource.lazy_client() if pinned else resource.client()  # what the scores asset does
t_client = time.perf_counter() - t0
sets = load_model_sets(all_use_cases(), client=client, pins=pinned, **KWARGS)
seconds = time.perf_counter() - t0
from smx_assets.domain.model_registry import model_cache
print(json.dumps({"load_models": seconds, "imports": t_import, "client": t_client, "pinned": bool(pinned),
                  "sql_store": "mlflow.store.tracking.sqlalchemy_store" in sys.modules,
                  "import_sklearn": model_cache.IMPORT_SECONDS,
                  "origins": [m.origin for s in sets.values() for m in (s.champion, s.challenger) if m],
                  "downloads": getattr(model_cache, "DOWNLOADS", None),
                  "models": {n: [f"{m.champion.name} v{m.champion.version}",
                                 m.challenger and f"{m.challenger.name} v{m.challenger.version}"]
                             for n, m in sets.items()}}))
"""


def _run(kwargs: str, pins_tag: str | None) -> dict:
    code = CHILD.replace("**KWARGS", kwargs)
    env = {**os.environ, **({"SMX_BENCH_PINS": pins_tag} if pins_tag else {})}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    if p.returncode != 0:
        sys.exit(p.stderr[-3000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cold", action="store_true", help="empty the model cache first")
    ap.add_argument("--no-cache", action="store_true", help="load straight from MLflow (the path before the cache)")
    ap.add_argument("--resolve", action="store_true",
                    help="each run resolves the aliases itself (UI/backfill), not the sensor's pinned versions")
    args = ap.parse_args()
    from smx_assets import settings
    from smx_assets.domain.model_registry import pins
    from smx_assets.domain.use_cases.catalog import all_use_cases
    from smx_assets.resources import MlflowResource

    cache = settings.current().model_cache_dir
    if args.cold and cache is not None and cache.exists():
        shutil.rmtree(cache)
    kwargs = "cache_dir=None" if args.no_cache else "cache_dir=settings.current().model_cache_dir"
    tag = None
    if not args.resolve:  # what the scoring sensor does once per tick, in the code server
        t0 = time.perf_counter()
        tag = pins.to_tag(pins.resolve_pins(all_use_cases(),
                                            MlflowResource(tracking_uri=settings.current().mlflow_tracking_uri).client()))
        print(f"versions resolved as the sensor does (once per tick, in the code server): {time.perf_counter() - t0:.2f} s "
              f"(first call of the process, client included)")
    rows = [_run(kwargs, tag) for _ in range(args.runs)]
    for k, r in enumerate(rows, 1):
        rest = r["load_models"] - r["client"] - r["import_sklearn"]
        print(f"run {k}: load_models {r['load_models']:.2f} s = MLflow client {r['client']:.2f} s + importing "
              f"scikit-learn {r['import_sklearn']:.2f} s + aliases and models {rest:.2f} s; MLflow downloads "
              f"{r['downloads']}, loaded from {'/'.join(r['origins'])} (code loaded before it: {r['imports']:.2f} s); "
              f"versions {'pinned by the sensor' if r['pinned'] else 'resolved by the run'}, MLflow SQL store "
              f"{'imported' if r['sql_store'] else 'not imported'}")
    secs = [r["load_models"] for r in rows]
    warm = [r["load_models"] - r["client"] - r["import_sklearn"] for r in rows if r["downloads"] == 0]
    if warm:
        print(f"aliases and models alone, runs without a download: median {statistics.median(warm):.3f} s")
    print(f"models: {rows[0]['models']}")
    print(f"load_models over {len(rows)} fresh processes: median {statistics.median(secs):.2f} s, "
          f"min {min(secs):.2f} s, max {max(secs):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
