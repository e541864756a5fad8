"""The one configuration home: every environment variable the platform reads, in one table.

Why one module: configuration used to be read in five ways (resource helpers, sensor-local
``policy_from_env`` functions, a monitoring ``_env``, ``os.environ`` at import time), so a
variable could be misspelt or mis-typed in one place and silently ignored in another. Here:

* :data:`TABLE` lists each variable once: name, default, meaning and allowed range. The README's
  configuration table is checked against it by a test; a new setting is a new row.
* :meth:`Settings.from_env` reads and checks *every* row and returns one frozen
  :class:`Settings` with nested policies (scoring, retraining, drift, partitions, database,
  workers). A bad value raises :class:`SettingsError` naming the variable, the value and the
  allowed range, so the code location (``definitions.py``) and the CLI fail at start-up
  instead of a sensor that silently stops requesting runs.
* Nothing else under ``defs/`` or ``domain/`` reads the environment: resources build their
  ``EnvVar`` from the table (:func:`env_var_or_default`), sensors take their policies from
  :func:`current`, and domain code receives plain values as arguments.

Values are re-read on each :func:`current` call (a few dictionary look-ups): sensors pick up a
changed variable at their next tick, as before, and tests can set variables per test.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from smx_assets.domain.redaction import MASK, mask_url, normalise_url, register_secret, split_url


class SettingsError(ValueError):
    """A configuration value is malformed or out of range (the message says which and why)."""


# ------------------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Setting:
    """One row of the configuration table.

    ``default`` is the text the variable would hold (``None``: derived, see ``default_doc``);
    ``parse`` turns the text into the typed value and raises ``ValueError`` with the allowed
    range when it does not fit.
    """

    name: str
    default: str | None
    meaning: str
    allowed: str
    parse: Callable[[str], Any] = field(repr=False, compare=False)
    default_doc: str | None = None  # how a derived default is shown in the README
    group: str = "stores"
    secret: bool = False  # never echoed (errors show ***) and masked in every log record

    @property
    def shown_default(self) -> str:
        if self.default_doc is not None:
            return self.default_doc
        return "unset" if self.default in (None, "") else self.default


def _number(kind: type, lo: float | None, hi: float | None, *, lo_open: bool = False) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text.strip())
        except ValueError:
            raise ValueError("not a number") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("not a finite number")
        if lo is not None and (value <= lo if lo_open else value < lo):
            raise ValueError("out of range")
        if hi is not None and value > hi:
            raise ValueError("out of range")
        return value

    return parse


def _choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError("not one of the allowed values")
        return text

    return parse


def _date(text: str) -> str:
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("not a date") from None
    if day.year < 2000:
        raise ValueError("before 2000")
    return day.isoformat()


def _text(text: str) -> str:
    return text


# Numeric query parameters a store URL may carry (herd DB, sensor store): checked here so
# ``?timeout=abc`` fails at load naming the variable, not as a bare float() traceback later.
_URL_NUMBERS: dict[str, tuple[type, float, float]] = {
    "timeout": (float, 0.001, 3600.0),
    "connect_timeout": (int, 1, 3600),
    "retries": (int, 0, 100),
}


def _url(text: str) -> str:
    """A URL, its numeric query parameters checked. Split by the masking's tolerant parser: an
    unencoded ``#``, ``/`` or ``?`` in a password must not hide the real query from the check."""
    parts = split_url(text)
    if parts is None:
        raise ValueError("not a URL (no scheme)")
    q = parts.rest.find("?")
    try:
        urlsplit(normalise_url(text))  # what the stores' strict parsers will make of it
        query = parse_qsl(parts.rest[q + 1:].split("#", 1)[0] if q >= 0 else "", keep_blank_values=True)
    except ValueError:
        raise ValueError("not a URL") from None
    for key, value in query:
        if key in _URL_NUMBERS:
            kind, lo, hi = _URL_NUMBERS[key]
            try:
                _number(kind, lo, hi)(value)
            except ValueError:
                raise ValueError(f"URL parameter {key}={value!r} must be {'a number' if kind is float else 'an integer'} "
                                 f"from {lo:g} to {hi:g}") from None
    return text


def _http_url(text: str) -> str:
    """A browser address: http(s) with a host; stored without a trailing slash."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http(s) URL")
    return text.strip().rstrip("/")


def _ui_url(text: str) -> str:
    """The MLflow UI's address in links: an http(s) URL, or a path (``/mlflow``) on the host the
    Dagster UI is opened on (both behind one reverse proxy: the links then follow the host)."""
    t = text.strip()
    if t.startswith("/") and not t.startswith("//"):
        return t.rstrip("/") or "/"
    try:
        return _http_url(t)
    except ValueError:
        raise ValueError("not an http(s) URL or a path starting with /") from None


def _uri_or_path(text: str) -> str:
    """MLflow also takes a plain folder path; a URI's numeric parameters are still checked."""
    return _url(text) if "://" in text or text.startswith("sqlite:") else _path_or_url(text)


@lru_cache(maxsize=64)
def _store_form(kind: str, text: str) -> None:
    """The form check of one store URL (cached: settings are read on every sensor tick, and a
    driver's import or MLflow's store registry is looked up once per process and value)."""
    if kind == "herd":
        from smx_assets.domain.sql_engine import check_sql_url

        check_sql_url(text)
    elif kind == "sensors":
        from smx_assets.domain.sensor_store.factory import check_sensor_store_url

        check_sensor_store_url(text)
    elif kind in ("tracking", "registry"):
        from smx_assets.domain.mlflow_uri import check_mlflow_uri

        check_mlflow_uri(text, registry=kind == "registry")
    elif kind == "fsspec":
        _fsspec_protocols(text)


def _herd_db_url(text: str) -> str:
    """A SQLAlchemy URL of a supported database whose driver is installed (nothing is opened)."""
    _url(text)
    _store_form("herd", text)
    return text


def _sensor_store_url(text: str) -> str:
    """A URL :func:`~smx_assets.domain.sensor_store.factory.open_sensor_store` can open."""
    _url(text)
    _store_form("sensors", text)
    return text


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")  # two letters at least: C:\\ is a Windows drive


def _mlflow_uri(kind: str) -> Callable[[str], str]:
    """A tracking/registry URI MLflow has a store for (asked of MLflow itself); a plain folder
    path needs no MLflow import, so the check costs nothing when the default is kept."""
    def parse(text: str) -> str:
        _uri_or_path(text)
        if _SCHEME.match(text) or text in ("databricks", "databricks-uc", "uc"):
            _store_form(kind, text)
        return text

    return parse


def _fsspec_protocols(text: str) -> None:
    """Every protocol of an fsspec URL (``s3://``, chained ``simplecache::s3://``) known to fsspec
    and its package installed (``s3fs`` for ``s3``); a plain path has none."""
    import fsspec
    from fsspec.core import split_protocol

    parts = text.split("::")
    for i, part in enumerate(parts):
        protocol = part if i < len(parts) - 1 and "://" not in part else split_protocol(part)[0]
        if protocol is None:
            continue
        try:
            fsspec.get_filesystem_class(protocol)
        except ValueError:
            raise ValueError(f"fsspec knows no protocol {protocol!r}") from None
        except ImportError as exc:
            raise ValueError(f"the protocol {protocol!r} needs a package that is not installed ({exc})") from None


def _features_path(text: str) -> str:
    _path_or_url(text)
    _store_form("fsspec", text.strip())
    return text


def _mask_url(text: str) -> str:
    """The URL with any password replaced by ``***`` (a refused value is echoed in the error).

    A URL too broken for the masking's parser (``user:pw@host:abc``: no valid ``host:port``
    after the ``@``) still has everything between ``user:`` and the last ``@`` masked: a
    refused URL is the likeliest to be pasted into a ticket."""
    masked = mask_url(text)
    scheme, sep, rest = masked.partition("://")
    if sep and "@" in rest:
        userinfo, _, tail = rest.rpartition("@")
        user, colon, password = userinfo.partition(":")
        if colon and password != "***":
            return f"{scheme}://{user}:***@{tail}"
    return masked


def _path_or_url(text: str) -> str:
    if not text.strip():
        raise ValueError("empty")
    return text


def _token(text: str) -> str:
    """A bearer token: printable ASCII without spaces (what an ``Authorization`` header carries)."""
    if not all(33 <= ord(c) < 127 for c in text):
        raise ValueError("only printable ASCII without spaces")
    return text


S, R, D, P, DB, W, OPS = "stores", "scoring", "drift", "partitions", "database", "workers", "operations"
API = "api"

TABLE: tuple[Setting, ...] = (
    Setting("SMX_HOME", ".smx", "data folder of the embedded default", "a folder path",
            _path_or_url, default_doc="./.smx"),
    Setting("SMX_HERD_DB_URL", None, "the herd database (farm records, alerts, scoring lineage)",
            "a SQLAlchemy URL: sqlite:///... or postgresql+psycopg2://user:pw@host:port/db (driver installed)",
            _herd_db_url,
            default_doc="sqlite:///$SMX_HOME/herd.db"),
    Setting("SMX_SENSOR_STORE_URL", None, "the bolus/climate time-series store",
            "sqlite:///..., postgresql+psycopg2://..., influxdb://[user:pw@]host:port/db "
            "(influxdbs:// for TLS, ?token=, ?timeout=, ?read_cache=/local/dir)", _sensor_store_url,
            default_doc="sqlite:///$SMX_HOME/sensors.db"),
    Setting("MLFLOW_TRACKING_URI", None, "MLflow tracking store (and registry unless MLFLOW_REGISTRY_URI)",
            "a URI MLflow has a tracking store for: sqlite:///..., postgresql+psycopg2://..., http(s)://mlflow-server, "
            "file:///... or a folder", _mlflow_uri("tracking"), default_doc="sqlite:///$SMX_HOME/mlflow.db"),
    Setting("MLFLOW_REGISTRY_URI", "", "a separate MLflow model registry",
            "a URI MLflow has a model registry for (as MLFLOW_TRACKING_URI)",
            lambda t: _mlflow_uri("registry")(t) if t else t, default_doc="the tracking URI"),
    Setting("SMX_MLFLOW_UI_URL", "http://127.0.0.1:5000",
            "the MLflow UI that asset metadata links to (runs, model versions, drift reports), fixed in each "
            "materialisation when it is built; `make ui` starts it. A path (`/mlflow`) makes relative links, "
            "opened on whatever host serves the Dagster UI (one reverse proxy for both; see Links)",
            "an http(s) URL, or a path starting with / (not with `make ui`)", _ui_url),
    Setting("SMX_DAGSTER_UI_URL", "http://127.0.0.1:3000",
            "where `make ui` serves the Dagster UI (its host and port) and where `smx demo` and "
            "`docs/screenshots.py` point to it", "an http(s) URL with a host and a port or the scheme's default",
            _http_url),
    Setting("SMX_MODEL_CACHE_DIR", None,
            "where scoring keeps each model version it loaded from MLflow (artefacts and the loaded model), "
            "so the next run loads it in milliseconds instead of from MLflow; `off`: load from MLflow every run",
            "a local folder path, or off", _path_or_url, default_doc="$SMX_HOME/model_cache"),
    Setting("SMX_FEATURES_PATH", None, "where feature Parquet files and the score store (scores/) live",
            "a folder or an fsspec URL whose protocol is installed (s3://... needs s3fs)",
            _features_path, default_doc="$SMX_HOME/features"),
    Setting("SMX_SCORES_WINDOW_DAYS", "90",
            "days the ten-minute `scores` partitions reach back (a rolling window: 90 days = 12,960 keys, "
            "bounded forever; older history: `smx score --from --to`)",
            "an integer from 1 to 3650 (keep it under 200: 30,000 keys)", _number(int, 1, 3650), group=P),
    Setting("SMX_DAILY_WINDOW_DAYS", "730",
            "days the daily partitions reach back (rolling; never shorter than the ten-minute window)",
            "an integer from 1 to 36500", _number(int, 1, 36500), group=P),
    Setting("SMX_PARTITIONS_START", "",
            "the deployment's first day of data: no partition starts before it, so the UI lists no days "
            "that can never hold data (unset: the first day `smx simulate`/`smx demo`/`smx import` recorded "
            "in `$SMX_HOME/data_start`, else no floor)",
            "unset, or a date YYYY-MM-DD, 2000 or later", lambda t: _date(t) if t.strip() else "", group=P,
            default_doc="the recorded first day of data, else unset"),
    Setting("SMX_SCORING_GRACE_MINUTES", "5", "wait after a bucket closes before scoring it",
            "a number from 0 to 1440", _number(float, 0, 1440), group=R),
    Setting("SMX_SCORING_MAX_NEW_PER_TICK", "36", "buckets per ranged catch-up run of the scoring sensor (one at a time)",
            "an integer from 1 to 1000", _number(int, 1, 1000), group=R),
    Setting("SMX_SCORING_MAX_CATCHUP_HOURS", "24", "oldest bucket (hours back) the scoring sensor still scores",
            "a number above 0 and up to 8760", _number(float, 0, 8760, lo_open=True), group=R),
    Setting("SMX_SCORING_RESCORE_HOURS", "24", "how far back late readings make the sensor re-score a bucket",
            "a number from 0 to 8760", _number(float, 0, 8760), group=R),
    Setting("SMX_SCORING_MAX_RESCORES_PER_TICK", "12", "late-data re-scores the sensor requests per tick",
            "an integer from 0 to 1000", _number(int, 0, 1000), group=R),
    Setting("SMX_SCORING_CHUNK_CELLS", "10000",
            "animal x bucket cells a scoring run holds at once: the herd is scored in chunks of this "
            "many cells (10,000 animals of one bucket, ~1 GB), so its memory stays flat as the herd grows",
            "an integer from 100 to 100000000", _number(int, 100, 100_000_000), group=R),
    Setting("SMX_SCORING_PROCESSES", "2",
            "processes computing a scoring run's chunk features (the run's own and forked workers; 1: the "
            "run's only); a run pod should have as many cores",
            "an integer from 1 to 16", _number(int, 1, 16), group=R),
    Setting("SMX_SCORING_SHARDS", "1",
            "scoring runs per bucket: the fleet is split by farm (crc32 of the farm id modulo this), the "
            "scoring sensor requests one run per shard and bucket, each reading and writing only its farms' "
            "animals (1: one run per bucket, as before)",
            "an integer from 1 to 1024", _number(int, 1, 1024), group=R),
    Setting("SMX_TRAINING_BACKFILL_DAYS_PER_RUN", "31",
            "days of `training_features` one backfill run computes: a longer backfill fans out into "
            "several runs of at most this many days (run workers or pods in parallel, within the queue's limits)",
            "an integer from 1 to 3650", _number(int, 1, 3650), group=R),
    Setting("SMX_RETRAIN_MIN_INTERVAL_HOURS", "24", "at most one monitoring-triggered retraining per interval",
            "a number from 0 to 8760", _number(float, 0, 8760), group=R),
    Setting("SMX_RETRAIN_TRAINING_DAYS", "30", "training_features days that must exist before retraining",
            "an integer from 1 to 3650", _number(int, 1, 3650), group=R),
    Setting("SMX_DRIFT_WARN_SHARE", "0.2", "share of drifted feature columns that warns",
            "a number from 0 to 1, at most SMX_DRIFT_FAIL_SHARE", _number(float, 0, 1), group=D),
    Setting("SMX_DRIFT_FAIL_SHARE", "0.35", "share of drifted feature columns that fails the check (retrains)",
            "a number from 0 to 1, at least SMX_DRIFT_WARN_SHARE", _number(float, 0, 1), group=D),
    Setting("SMX_DRIFT_P_VALUE", "0.01", "a column drifts when its KS p-value is below this",
            "a number above 0 and up to 1", _number(float, 0, 1, lo_open=True), group=D),
    Setting("SMX_DRIFT_SAMPLE_ROWS", "1000", "rows sampled from reference and current data per report",
            "an integer from 10 to 1000000", _number(int, 10, 1_000_000), group=D),
    Setting("SMX_DRIFT_REFERENCE_DAYS", "7", "reference days when the champion's run logged none",
            "an integer from 1 to 365", _number(int, 1, 365), group=D),
    Setting("SMX_RETENTION_READINGS_DAYS", "60",
            "days of raw readings the sensor store keeps (InfluxDB: the database's retention policy, "
            "set by `smx migrate` and the daily `storage_retention` asset; SQL store: deleted daily). "
            "`smx import` rejects older readings as `beyond_retention` (InfluxDB would refuse them, the "
            "daily retention would delete them from the SQL store): raise it before importing older history",
            "an integer from 12 (baselines + trailing window) to 36500", _number(int, 12, 36500), group=OPS),
    Setting("SMX_RETENTION_FEATURES_DAYS", "30",
            "days of stored scoring feature vectors (`scored_features`) kept; alerts' vectors are kept apart",
            "an integer from 1 to 36500", _number(int, 1, 36500), group=OPS),
    Setting("SMX_RETENTION_PREDICTIONS_DAYS", "30",
            "days of scores kept in the score store (whole days deleted, with their scoring lineage rows;"
            " the days before today are compacted); alerts are kept",
            "an integer from 2 to 36500", _number(int, 2, 36500), group=OPS),
    Setting("SMX_DB_CONNECT_TIMEOUT_S", "10", "PostgreSQL connect timeout (a server that accepts but never answers)",
            "an integer from 1 to 600", _number(int, 1, 600), group=DB),
    Setting("SMX_INFLUX_SERIALIZE_WORKERS", "2", "processes that serialise InfluxDB line protocol for big writes",
            "an integer from 0 (in-process) to 64", _number(int, 0, 64), group=W),
    Setting("SMX_LIVE_SIMULATION", "", "`1` turns the simulated farm's schedule on (demo only)",
            "unset, 0 or 1", _choice("", "0", "1"), group=OPS),
    Setting("SMX_TRAINING_SCHEDULE", "", "`running` starts the weekly training schedule by default",
            "unset, stopped or running", _choice("", "stopped", "running"), group=OPS),
    Setting("SMX_CODE_VERSION", "", "code version stamped on the scoring lineage and alerts",
            "any text", _text, default_doc="the git sha (+dirty), else the package version", group=OPS),
    Setting("SMX_API_TOKEN", "",
            "bearer token every `/v1` path of `smx serve` requires (`Authorization: Bearer ...`); a secret: "
            "never logged or echoed. Unset: `/v1` is open, and `smx serve` refuses any host but loopback",
            "unset, or printable ASCII without spaces (use 32+ random characters)", _token, group=API, secret=True),
    Setting("SMX_API_MODEL_TTL_S", "30",
            "seconds `smx serve` keeps the resolved champion/challenger versions (and herd records, baselines) "
            "before asking again: a promotion or rollback is served within this time, without a restart",
            "a number from 1 to 60", _number(float, 1, 60), group=API),
    Setting("SMX_API_CONCURRENT_REQUESTS", "1",
            "requests one `smx serve` worker computes at once; more wait their turn (a worker's threads share "
            "one GIL: two at once took 3-4x as long each, so more throughput comes from `--workers`)",
            "an integer from 1 to 64", _number(int, 1, 64), group=API),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in TABLE}


def raw(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's text (None when unset or empty): the one place that reads the environment."""
    if name not in BY_NAME:
        raise KeyError(f"{name} is not a setting (add a row to smx_assets.settings.TABLE)")
    value = (os.environ if environ is None else environ).get(name)
    return value if value else None


def env_var_or_default(name: str, default: Any) -> Any:
    """A Dagster ``EnvVar(name)`` when the variable is set (its value stays out of the UI and run
    config), else ``default``: how resources take their URLs from the table."""
    import dagster as dg

    return dg.EnvVar(name) if raw(name) else default


# ------------------------------------------------------------------------ the settings object


@dataclass(frozen=True)
class ScoringSettings:
    grace_minutes: float = 5.0
    max_new_per_tick: int = 36
    max_catchup_hours: float = 24.0
    rescore_hours: float = 24.0
    max_rescores_per_tick: int = 12
    chunk_cells: int = 10_000
    shards: int = 1
    processes: int = 2


@dataclass(frozen=True)
class RetrainingSettings:
    min_interval_hours: float = 24.0
    training_days: int = 30
    backfill_days_per_run: int = 31


@dataclass(frozen=True)
class DriftSettings:
    warn_share: float = 0.2
    fail_share: float = 0.35
    p_value: float = 0.01
    sample_rows: int = 1000
    reference_days: int = 7


@dataclass(frozen=True)
class PartitionSettings:
    start: str = ""  # ISO day or "" (no floor)
    scores_window_days: int = 90
    daily_window_days: int = 730


@dataclass(frozen=True)
class RetentionSettings:
    readings_days: int = 60
    features_days: int = 30
    predictions_days: int = 30


@dataclass(frozen=True)
class DatabaseSettings:
    connect_timeout_s: int = 10


@dataclass(frozen=True)
class WorkerSettings:
    influx_serialize_workers: int = 2


@dataclass(frozen=True)
class ApiSettings:
    token: str = field(default="", repr=False)  # a secret: kept out of repr and logs
    model_ttl_s: float = 30.0
    concurrent_requests: int = 1


@dataclass(frozen=True)
class OperationSettings:
    live_simulation: bool = False
    training_schedule_running: bool = False


DATA_START_FILE = "data_start"


def recorded_data_start(home: Path) -> str:
    """The first day of data the CLI recorded in ``$SMX_HOME/data_start`` ("" when none).

    Why a file and not a variable: the partition windows are computed when the code location
    loads, from settings only; the day the data starts is known to whoever wrote the data
    (``smx simulate``, ``smx import``), in another process, often before the first load. The
    file is read here, so the settings stay the one place that decides the partition floor
    and ``SMX_PARTITIONS_START`` still overrides it.
    """
    path = home / DATA_START_FILE
    if not path.exists():
        return ""
    text = path.read_text().strip()
    try:
        return _date(text)
    except ValueError as exc:
        raise SettingsError(f"{path} holds {text!r} ({exc}): expected a date YYYY-MM-DD; "
                            "delete the file or set SMX_PARTITIONS_START") from None


def record_data_start(day: dt.date, home: Path | None = None) -> str:
    """Record ``day`` as the first day of data unless an earlier one is recorded; returns the day kept."""
    home = home or smx_home()
    known = recorded_data_start(home)
    keep = min(day.isoformat(), known) if known else day.isoformat()
    (home / DATA_START_FILE).write_text(keep + "\n")
    return keep


def smx_home() -> Path:
    """The embedded default's data folder (``SMX_HOME``, default ``./.smx``), created on demand."""
    home = Path(raw("SMX_HOME") or ".smx").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def default_herd_db_url(home: Path | None = None) -> str:
    return f"sqlite:///{(home or smx_home()) / 'herd.db'}"


def default_sensor_store_url(home: Path | None = None) -> str:
    return f"sqlite:///{(home or smx_home()) / 'sensors.db'}"


def default_mlflow_uri(home: Path | None = None) -> str:
    return f"sqlite:///{(home or smx_home()) / 'mlflow.db'}"


def default_features_path(home: Path | None = None) -> str:
    return str((home or smx_home()) / "features")


@dataclass(frozen=True)
class Settings:
    """Resolved, checked configuration; :meth:`from_env` is the only constructor code needs."""

    home: Path
    herd_db_url: str
    sensor_store_url: str
    mlflow_tracking_uri: str
    features_path: str
    mlflow_registry_uri: str | None = None
    mlflow_ui_url: str = "http://127.0.0.1:5000"
    dagster_ui_url: str = "http://127.0.0.1:3000"
    model_cache_dir: Path | None = None  # None: no local model cache (SMX_MODEL_CACHE_DIR=off)
    scoring: ScoringSettings = ScoringSettings()
    retraining: RetrainingSettings = RetrainingSettings()
    drift: DriftSettings = DriftSettings()
    partitions: PartitionSettings = PartitionSettings()
    database: DatabaseSettings = DatabaseSettings()
    retention: RetentionSettings = RetentionSettings()
    workers: WorkerSettings = WorkerSettings()
    operations: OperationSettings = OperationSettings()
    api: ApiSettings = ApiSettings()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, create_home: bool = True) -> Settings:
        """Read and check every row of :data:`TABLE`; one :class:`SettingsError` lists all bad values.

        ``create_home=False`` for commands that only read (``smx summary``, ``explain``,
        ``alerts``) and for the CLI's check at start: an empty home stays empty.
        """
        values: dict[str, Any] = {}
        errors: list[str] = []
        for row in TABLE:
            text = raw(row.name, environ)
            if text is None:
                text = row.default
            if text is None:
                values[row.name] = None
                continue
            try:
                values[row.name] = row.parse(text)
            except ValueError as exc:
                shown = MASK if row.secret else _mask_url(text)  # a URL's password is never echoed
                errors.append(f"{row.name}={shown!r} is not allowed ({exc}): expected {row.allowed}")
        if not errors and values["SMX_DRIFT_WARN_SHARE"] > values["SMX_DRIFT_FAIL_SHARE"]:
            errors.append(f"SMX_DRIFT_WARN_SHARE={values['SMX_DRIFT_WARN_SHARE']} is above "
                          f"SMX_DRIFT_FAIL_SHARE={values['SMX_DRIFT_FAIL_SHARE']}: expected warn <= fail")
        if errors:
            raise SettingsError("bad configuration: " + "; ".join(errors))
        register_secret(*(values[row.name] for row in TABLE if row.secret))
        home_text = values["SMX_HOME"]
        home = Path(home_text).expanduser().resolve()
        if create_home:
            home.mkdir(parents=True, exist_ok=True)
        v = values
        return cls(
            home=home,
            herd_db_url=v["SMX_HERD_DB_URL"] or default_herd_db_url(home),
            sensor_store_url=v["SMX_SENSOR_STORE_URL"] or default_sensor_store_url(home),
            mlflow_tracking_uri=v["MLFLOW_TRACKING_URI"] or default_mlflow_uri(home),
            features_path=v["SMX_FEATURES_PATH"] or default_features_path(home),
            mlflow_registry_uri=v["MLFLOW_REGISTRY_URI"] or None,
            mlflow_ui_url=v["SMX_MLFLOW_UI_URL"],
            dagster_ui_url=v["SMX_DAGSTER_UI_URL"],
            model_cache_dir=(None if (v["SMX_MODEL_CACHE_DIR"] or "").strip().lower() == "off"
                             else Path(v["SMX_MODEL_CACHE_DIR"] or home / "model_cache").expanduser().resolve()),
            scoring=ScoringSettings(
                grace_minutes=v["SMX_SCORING_GRACE_MINUTES"],
                max_new_per_tick=v["SMX_SCORING_MAX_NEW_PER_TICK"],
                max_catchup_hours=v["SMX_SCORING_MAX_CATCHUP_HOURS"],
                rescore_hours=v["SMX_SCORING_RESCORE_HOURS"],
                max_rescores_per_tick=v["SMX_SCORING_MAX_RESCORES_PER_TICK"],
                chunk_cells=v["SMX_SCORING_CHUNK_CELLS"],
                shards=v["SMX_SCORING_SHARDS"],
                processes=v["SMX_SCORING_PROCESSES"],
            ),
            retraining=RetrainingSettings(
                min_interval_hours=v["SMX_RETRAIN_MIN_INTERVAL_HOURS"],
                training_days=v["SMX_RETRAIN_TRAINING_DAYS"],
                backfill_days_per_run=v["SMX_TRAINING_BACKFILL_DAYS_PER_RUN"],
            ),
            drift=DriftSettings(
                warn_share=v["SMX_DRIFT_WARN_SHARE"], fail_share=v["SMX_DRIFT_FAIL_SHARE"],
                p_value=v["SMX_DRIFT_P_VALUE"], sample_rows=v["SMX_DRIFT_SAMPLE_ROWS"],
                reference_days=v["SMX_DRIFT_REFERENCE_DAYS"],
            ),
            partitions=PartitionSettings(start=v["SMX_PARTITIONS_START"] or recorded_data_start(home),
                                          scores_window_days=v["SMX_SCORES_WINDOW_DAYS"],
                                          daily_window_days=v["SMX_DAILY_WINDOW_DAYS"]),
            database=DatabaseSettings(connect_timeout_s=v["SMX_DB_CONNECT_TIMEOUT_S"]),
            retention=RetentionSettings(readings_days=v["SMX_RETENTION_READINGS_DAYS"],
                                        features_days=v["SMX_RETENTION_FEATURES_DAYS"],
                                        predictions_days=v["SMX_RETENTION_PREDICTIONS_DAYS"]),
            workers=WorkerSettings(influx_serialize_workers=v["SMX_INFLUX_SERIALIZE_WORKERS"]),
            operations=OperationSettings(
                live_simulation=v["SMX_LIVE_SIMULATION"] == "1",
                training_schedule_running=v["SMX_TRAINING_SCHEDULE"] == "running",
            ),
            api=ApiSettings(token=v["SMX_API_TOKEN"], model_ttl_s=v["SMX_API_MODEL_TTL_S"],
                            concurrent_requests=v["SMX_API_CONCURRENT_REQUESTS"]),
        )


README_BEGIN = "<!-- settings table: generated from smx_assets/settings.py (python -m smx_assets.settings) -->"
README_END = "<!-- end of settings table -->"


def markdown_table() -> str:
    """The README's configuration table, one row per :data:`TABLE` entry (a test keeps them equal)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    for row in TABLE:
        shown = row.shown_default
        literal = row.default not in (None, "") or (row.default_doc is not None and " " not in row.default_doc)
        default = f"`{cell(shown)}`" if literal else cell(shown)
        rows.append(f"| `{row.name}` | {default} | {cell(row.allowed)} | {cell(row.meaning)} |")
    return "\n".join(rows)


def current() -> Settings:
    """The settings as the environment holds them now (checked; raises :class:`SettingsError`)."""
    return Settings.from_env()


@lru_cache(maxsize=1)
def code_version() -> str:
    """Git sha of the working tree (with ``+dirty``), else the package version.

    Stored on every prediction and alert so any output can be traced to the code that made it.
    """
    env = raw("SMX_CODE_VERSION")
    if env:
        return env
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        return f"{sha}+dirty" if dirty else sha
    except (OSError, subprocess.SubprocessError):
        from smx_assets import __version__

        return __version__


if __name__ == "__main__":  # pragma: no cover - prints the README block
    print(README_BEGIN)
    print(markdown_table())
    print(README_END)
