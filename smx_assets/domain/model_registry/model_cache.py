"""Model versions kept on local disk (and in the process), so a scoring run does not load from
MLflow what an earlier run already loaded.

Why: every ten-minute run is a fresh process, and loading a version through MLflow costs far
more than scoring with it: measured on the default demo (2-core machine, other work running),
the three champions took 9-25 s a run, almost all of it importing ``skops`` (its trusted-type
scan walks every scikit-learn estimator, 6-7 s) and deserialising the ``.skops`` files
(0.4 s each), plus a copy of each version's artefacts out of the store.

A registered version never changes (a new model is a new version), so what MLflow loaded once
can be kept: the first load downloads the version's artefacts into a folder of its own and
renames it to ``<cache>/<model name>/v<version>-<key>/artifacts`` (runs loading the same version
at once never share a half-written folder), loads them with MLflow exactly as before
(skops and the trusted-type check included) and writes the loaded ``PyFuncModel`` next to them
as a pickle, ready for the next process (0.01-0.02 s). A model *from code* (the rule
baselines) cannot be pickled for another process; its entry is the local copy of its
artefacts, loaded by MLflow without a download. ``key`` hashes what the pickle depends
on: the version's source and run id (a re-created registry's "version 1" is another model) and
the versions of Python, MLflow and scikit-learn. Within one process a loaded version is handed
out again from memory.

Trust: the pickle is written by this code from a model MLflow has already loaded, into the
same ``SMX_HOME`` that holds the embedded store's (cloudpickled) artefacts. With
``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false`` (a hardened deployment) no pickle is written or
read: every process loads through MLflow again (MLflow then refuses sklearn models too).

An unreadable entry (a crash while writing cannot leave one: files are renamed into place) is
removed and loaded from MLflow again; entries unused for :data:`KEEP_DAYS` are pruned when a new
one is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KEEP_DAYS = 30
MODEL_FILE = "pyfunc_model.pkl"
META_FILE = "meta.json"

# Versions fetched from the MLflow store by this process (tests and bench/bench_model_loading.py
# read it: a second run that loads from the cache leaves it unchanged).
DOWNLOADS = 0
# Seconds this process spent importing scikit-learn for a cached ML model (once per process):
# the floor of a fresh run's model loading, paid by any run that scores with an ML model.
IMPORT_SECONDS = 0.0


@dataclass
class Entry:
    """A loaded version: the pyfunc model and what scoring needs to know about it."""

    model: Any
    feature_columns: list[str]
    kind: str | None
    origin: str  # "memory" | "disk" | "mlflow": where this run got it from
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)


_MEMORY: dict[str, Entry] = {}


def _version_of(dist: str) -> str:
    try:
        return _metadata.version(dist)
    except _metadata.PackageNotFoundError:
        return "none"


def cache_key(name: str, version: str, source: str | None, run_id: str | None) -> str:
    """What a cached pickle depends on, hashed: the version's identity and the library versions."""
    parts = [name, str(version), source or "", run_id or "", platform.python_version(),
             _version_of("mlflow"), _version_of("scikit-learn"), _version_of("cloudpickle")]
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()[:16]


def entry_dir(cache_dir: Path, name: str, version: str, key: str) -> Path:
    return Path(cache_dir) / re.sub(r"[^A-Za-z0-9_.-]", "_", name) / f"v{version}-{key}"


def pickles_allowed() -> bool:
    """MLflow's own gate on deserialising pickles (``MLFLOW_ALLOW_PICKLE_DESERIALIZATION``)."""
    from mlflow.environment_variables import MLFLOW_ALLOW_PICKLE_DESERIALIZATION

    return bool(MLFLOW_ALLOW_PICKLE_DESERIALIZATION.get())


@contextlib.contextmanager
def _quiet_download() -> Iterator[None]:
    """No "Downloading artifacts" progress bar on a run's standard error."""
    old = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = old


def _input_names(model: Any) -> list[str]:
    schema = model.metadata.get_input_schema()
    return schema.input_names() if schema is not None else []


def _read(folder: Path, key: str, load_from: Callable[[str], Any]) -> Entry | None:
    """The cached entry, or None (nothing cached, or an entry that cannot be used: removed)."""
    global IMPORT_SECONDS
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("key") != key:
            raise ValueError(f"key {meta.get('key')} != {key}")
        if meta.get("pickled"):
            if meta.get("kind") != "rule" and "sklearn" not in sys.modules:
                t0 = time.perf_counter()
                import sklearn  # noqa: F401 - timed apart: the library, not the model (scipy.stats comes with it)

                IMPORT_SECONDS += time.perf_counter() - t0
            with (folder / MODEL_FILE).open("rb") as fh:
                model = pickle.load(fh)
        else:  # a model from code (rule baselines): MLflow runs its code file, from the local copy
            model = load_from(str(folder / "artifacts"))
    except Exception as exc:  # noqa: BLE001 - a bad entry is reloaded from MLflow, never used
        log.warning("model cache entry %s unreadable (%s: %s): loading from MLflow again",
                    folder, type(exc).__name__, str(exc)[:200])
        shutil.rmtree(folder, ignore_errors=True)
        return None
    with contextlib.suppress(OSError):
        os.utime(meta_path)  # last used: what pruning goes by
    return Entry(model, list(meta.get("feature_columns") or _input_names(model)), meta.get("kind"), "disk", meta=meta)


def _portable(model: Any) -> bool:
    """Whether the loaded model unpickles in another process. A pyfunc *from code* does not:
    its class lives in the module MLflow made of the code file (``code_model_<id>``), which
    exists only in the process that loaded it."""
    impl = getattr(model, "_model_impl", None)
    inner = getattr(impl, "python_model", None)
    module = type(inner if inner is not None else impl).__module__
    return not module.startswith("code_model_")


def _write(folder: Path, entry: Entry, meta: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    if meta["pickled"]:
        files.append((MODEL_FILE, pickle.dumps(entry.model, protocol=pickle.HIGHEST_PROTOCOL)))
    files.append((META_FILE, json.dumps(meta, indent=1).encode()))
    for name, data in files:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, folder / name)  # the model first, its meta last: meta present => entry whole


def _prune(model_dir: Path, keep: Path) -> None:
    cutoff = time.time() - KEEP_DAYS * 86400
    for folder in model_dir.iterdir() if model_dir.is_dir() else ():
        meta = folder / META_FILE
        try:
            # no meta yet may be another process's download in progress: judged by the folder's age
            stale = folder != keep and (meta if meta.exists() else folder).stat().st_mtime < cutoff
        except OSError:
            continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)


def _download(uri: str, folder: Path) -> Path:
    """The version's artefacts in a download folder of this process's own, renamed into place as
    ``folder/artifacts``. Why: runs of the same version start together (shards, a catch-up next
    to a new bucket) and would otherwise download into, or clear, the folder another one is
    loading from. ``artifacts`` only ever appears whole, by a rename; the loser of a race keeps
    the winner's copy."""
    import mlflow

    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".download-"))
    try:
        with _quiet_download():
            mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp))
        final = folder / "artifacts"
        try:
            os.rename(tmp, final)
        except OSError:  # another process renamed its copy first
            if not final.is_dir():
                raise
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _download_and_load(uri: str, folder: Path, load_from: Callable[[str], Any]) -> Any:
    final = _download(uri, folder)
    try:
        return load_from(str(final))
    except Exception as exc:  # noqa: BLE001 - e.g. a copy an older version's in-place download left half done
        log.warning("model cache: %s could not be loaded (%s: %s): downloading %s once more",
                    final, type(exc).__name__, str(exc)[:200], uri)
        shutil.rmtree(final, ignore_errors=True)
        return load_from(str(_download(uri, folder)))


def load(name: str, version: str, source: str | None, run_id: str | None, *, cache_dir: Path | None,
         load_from: Callable[[str], Any], kind: Callable[[], str | None]) -> Entry:
    """The version from memory, else the disk cache, else MLflow (then cached).

    ``load_from(uri)`` loads a pyfunc model from a ``models:/`` URI or a local folder (MLflow's
    loader, with the caller's error wording); ``kind()`` looks up ``smx.model_kind`` when the
    version is loaded from MLflow (cached with it, so later runs ask the registry nothing).
    """
    global DOWNLOADS
    t0 = time.perf_counter()
    key = cache_key(name, version, source, run_id)
    hit = _MEMORY.get(key)
    if hit is not None:
        return Entry(hit.model, hit.feature_columns, hit.kind, "memory", time.perf_counter() - t0, hit.meta)
    use_disk = cache_dir is not None and pickles_allowed()
    folder = entry_dir(cache_dir, name, version, key) if use_disk else None
    entry = _read(folder, key, load_from) if folder is not None else None
    if entry is None:
        uri = f"models:/{name}/{version}"
        if folder is not None:
            model = _download_and_load(uri, folder, load_from)
            DOWNLOADS += 1
        else:
            DOWNLOADS += 1
            with _quiet_download():
                model = load_from(uri)
        entry = Entry(model, _input_names(model), kind(), "mlflow")
        if folder is not None:
            meta = {"key": key, "name": name, "version": str(version), "source": source, "run_id": run_id,
                    "kind": entry.kind, "feature_columns": entry.feature_columns, "pickled": _portable(model),
                    "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            try:
                _write(folder, entry, meta)
                _prune(folder.parent, keep=folder)
            except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:  # a full disk costs speed, not the run
                log.warning("model cache: could not keep %s v%s in %s (%s: %s)", name, version, folder,
                            type(exc).__name__, exc)
            entry.meta = meta
    entry.seconds = time.perf_counter() - t0
    _MEMORY[key] = entry
    return entry


def forget_memory() -> None:
    """Drop the in-process copies (tests: the next load is what a fresh process would do)."""
    _MEMORY.clear()


__all__ = ["DOWNLOADS", "IMPORT_SECONDS", "Entry", "cache_key", "entry_dir", "forget_memory", "load", "pickles_allowed"]
