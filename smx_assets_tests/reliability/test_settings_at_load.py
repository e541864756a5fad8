"""Settings are checked when the code location loads and when the CLI starts.

A bad value used to be accepted and then silently stop scoring (``SMX_SCORING_MAX_NEW_PER_TICK=-1``
requested no run ever) or fail every tick with a bare ``could not convert string to float``.
Now it fails at load with one message naming the variable, the value and the allowed range.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from smx_assets import settings

BAD = [
    ("SMX_SCORING_MAX_NEW_PER_TICK", "-1", "an integer from 1 to 1000"),
    ("SMX_SCORING_GRACE_MINUTES", "-600", "a number from 0 to 1440"),
    ("SMX_SCORING_GRACE_MINUTES", "abc", "a number from 0 to 1440"),
    ("SMX_SCORING_GRACE_MINUTES", "nan", "a number from 0 to 1440"),
    ("SMX_PARTITIONS_START", "notadate", "a date YYYY-MM-DD"),
    ("SMX_SENSOR_STORE_URL", "influxdb://127.0.0.1:8086/smx?timeout=abc", "timeout='abc' must be a number from 0.001 to 3600"),
    ("SMX_HERD_DB_URL", "postgresql+psycopg2://u@127.0.0.1/db?connect_timeout=abc", "connect_timeout='abc'"),
    ("SMX_DRIFT_P_VALUE", "0", "above 0 and up to 1"),
    ("SMX_RETRAIN_TRAINING_DAYS", "2.5", "an integer from 1 to 3650"),
    ("SMX_LIVE_SIMULATION", "yes", "unset, 0 or 1"),
]


@pytest.mark.parametrize(("name", "value", "allowed"), BAD)
def test_bad_value_names_variable_value_and_range(smx_home, monkeypatch: pytest.MonkeyPatch, name: str,
                                                   value: str, allowed: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError) as err:
        settings.current()
    message = str(err.value)
    assert "\n" not in message
    assert f"{name}={value!r}" in message and allowed in message


def test_defaults_are_the_table_defaults(smx_home, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SMX_PARTITIONS_START", "SMX_SCORES_WINDOW_DAYS", "SMX_DAILY_WINDOW_DAYS"):
        monkeypatch.delenv(name, raising=False)  # the suite's conftest widens the windows
    s = settings.current()
    assert s.scoring == settings.ScoringSettings()
    assert s.drift == settings.DriftSettings() and s.retraining == settings.RetrainingSettings()
    assert s.partitions.start == settings.BY_NAME["SMX_PARTITIONS_START"].default
    assert s.partitions == settings.PartitionSettings()
    assert str(settings.PartitionSettings().scores_window_days) == settings.BY_NAME["SMX_SCORES_WINDOW_DAYS"].default
    assert s.herd_db_url == f"sqlite:///{smx_home / 'herd.db'}"
    # The dataclass defaults and the table's defaults are one set of numbers, not two.
    assert str(settings.ScoringSettings().max_new_per_tick) == settings.BY_NAME["SMX_SCORING_MAX_NEW_PER_TICK"].default


def test_good_values_are_typed(smx_home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMX_SCORING_GRACE_MINUTES", "7.5")
    monkeypatch.setenv("SMX_SCORING_MAX_NEW_PER_TICK", "3")
    monkeypatch.setenv("SMX_TRAINING_SCHEDULE", "running")
    s = settings.current()
    assert s.scoring.grace_minutes == 7.5 and s.scoring.max_new_per_tick == 3
    assert s.operations.training_schedule_running is True


def test_a_refused_url_is_echoed_without_its_password(smx_home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMX_SENSOR_STORE_URL", "influxdb://admin:Hunter2Zq@127.0.0.1:8086/smx?timeout=abc")
    with pytest.raises(settings.SettingsError) as err:
        settings.current()
    assert "Hunter2Zq" not in str(err.value) and "admin:***@127.0.0.1" in str(err.value)


def test_warn_share_above_fail_share_is_refused(smx_home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMX_DRIFT_WARN_SHARE", "0.5")
    monkeypatch.setenv("SMX_DRIFT_FAIL_SHARE", "0.3")
    with pytest.raises(settings.SettingsError, match="SMX_DRIFT_WARN_SHARE=0.5 is above SMX_DRIFT_FAIL_SHARE=0.3"):
        settings.current()


def test_code_location_load_fails_with_the_message(smx_home, monkeypatch: pytest.MonkeyPatch) -> None:
    import smx_assets.definitions as module

    monkeypatch.setenv("SMX_SCORING_MAX_NEW_PER_TICK", "-1")
    with pytest.raises(settings.SettingsError, match=r"SMX_SCORING_MAX_NEW_PER_TICK='-1'.*from 1 to 1000"):
        importlib.reload(module)
    monkeypatch.delenv("SMX_SCORING_MAX_NEW_PER_TICK")
    importlib.reload(module)  # leave a loadable module behind for later tests


def test_cli_refuses_to_start_with_one_line(smx_home: Path) -> None:
    env = {"SMX_HOME": str(smx_home), "SMX_PARTITIONS_START": "notadate", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "smx_assets.cli", "summary"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines == ["smx: bad configuration: SMX_PARTITIONS_START='notadate' is not allowed (not a date): "
                     "expected unset, or a date YYYY-MM-DD, 2000 or later"]
    assert "Traceback" not in out.stderr


def test_readme_configuration_table_is_the_settings_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index(settings.README_BEGIN) + len(settings.README_BEGIN)
    block = readme[start:readme.index(settings.README_END)].strip()
    assert block == settings.markdown_table(), (
        "README configuration table differs from smx_assets/settings.py TABLE: "
        "paste the output of `python -m smx_assets.settings` between the markers")


def test_every_nested_default_is_the_table_default(smx_home) -> None:
    """Built from an empty environment, each nested policy equals its dataclass defaults."""
    s = settings.Settings.from_env({"SMX_HOME": str(smx_home)})
    for name in ("scoring", "retraining", "drift", "partitions", "database", "workers", "operations"):
        policy = getattr(s, name)
        assert policy == type(policy)(), name


# URLs checked by scheme and form at load (nothing connected): issue 28's cases and their kin.
BAD_URLS = [
    ("MLFLOW_TRACKING_URI", "ftp://x", "MLflow has no tracking store for the scheme 'ftp'"),
    ("MLFLOW_TRACKING_URI", "http://:5000", "needs a host"),
    ("MLFLOW_TRACKING_URI", "http://mlflow:abc", "the port is not a number from 1 to 65535"),
    ("MLFLOW_TRACKING_URI", "postgresql://u@127.0.0.1/mlflow", "the driver 'psycopg' of postgresql is not installed"),
    ("MLFLOW_REGISTRY_URI", "bogus://y", "MLflow has no model registry store for the scheme 'bogus'"),
    ("SMX_FEATURES_PATH", "nosuchproto://bucket/features", "fsspec knows no protocol 'nosuchproto'"),
    ("SMX_FEATURES_PATH", "s3://bucket/features", "the protocol 's3' needs a package that is not installed"),
    ("SMX_FEATURES_PATH", "nosuchcache::memory://features", "fsspec knows no protocol 'nosuchcache'"),
    ("SMX_SENSOR_STORE_URL", "redis://127.0.0.1:6379/0", "unsupported scheme 'redis'"),
    ("SMX_SENSOR_STORE_URL", "influxdb://127.0.0.1:abc/smx", "port is not a number from 1 to 65535"),
    ("SMX_SENSOR_STORE_URL", "influxdb://127.0.0.1:8086/", "must name exactly one database"),
    ("SMX_SENSOR_STORE_URL", "influxdb://127.0.0.1:8086/smx?tokn=x", "unknown InfluxDB URL parameters ['tokn']"),
    ("SMX_SENSOR_STORE_URL", "postgresql+pg8000://u@127.0.0.1/sensors", "the driver 'pg8000'"),
    ("SMX_HERD_DB_URL", "postgresql+psycopg2://smx@127.0.0.1:abc/herd", "the port is not a number from 1 to 65535"),
    ("SMX_HERD_DB_URL", "postgresql+psycopg2://smx@127.0.0.1:70000/herd", "port 70000 is not a number from 1 to 65535"),
    ("SMX_HERD_DB_URL", "postgresql+pg8000://smx@127.0.0.1/herd", "the driver 'pg8000' of postgresql+pg8000 is not installed"),
    ("SMX_HERD_DB_URL", "mysql+pymysql://smx@127.0.0.1/herd", "the database 'mysql' is not supported"),
    ("SMX_HERD_DB_URL", "nosuchdb://smx@127.0.0.1/herd", "the database 'nosuchdb' is not supported"),
]


@pytest.mark.parametrize(("name", "value", "reason"), BAD_URLS, ids=[f"{n}={v}" for n, v, _ in BAD_URLS])
def test_a_url_is_checked_by_scheme_and_form_at_load(smx_home, monkeypatch: pytest.MonkeyPatch, name: str,
                                                     value: str, reason: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError) as err:
        settings.current()
    message = str(err.value)
    assert "\n" not in message and f"{name}={value!r}" in message and reason in message, message


GOOD_URLS = [
    ("MLFLOW_TRACKING_URI", "http://mlflow.invalid:5000"),
    ("MLFLOW_TRACKING_URI", "postgresql+psycopg2://u:pw@db.invalid:5432/mlflow"),
    ("MLFLOW_TRACKING_URI", "databricks"),
    ("MLFLOW_REGISTRY_URI", "sqlite:///registry.db"),
    ("SMX_FEATURES_PATH", "memory://features"),
    ("SMX_FEATURES_PATH", "simplecache::file:///tmp/features"),
    ("SMX_SENSOR_STORE_URL", "influxdbs://u:pw@influx.invalid:8086/smx?token=t&timeout=5"),
    ("SMX_HERD_DB_URL", "postgresql+psycopg2://u:p#w@db.invalid/herd?connect_timeout=3"),
]


@pytest.mark.parametrize(("name", "value"), GOOD_URLS, ids=[f"{n}={v}" for n, v in GOOD_URLS])
def test_a_good_url_is_accepted_without_connecting(smx_home, monkeypatch: pytest.MonkeyPatch, name: str,
                                                   value: str) -> None:
    """Checked by form only: hosts under ``.invalid`` never resolve, and the check still passes."""
    monkeypatch.setenv(name, value)
    s = settings.current()
    assert value in (s.mlflow_tracking_uri, s.mlflow_registry_uri, s.features_path, s.sensor_store_url, s.herd_db_url)


# The cases as a user meets them: `smx demo` in a fresh home, refused before it creates anything.
CLI_URL_CASES = [
    ("MLFLOW_TRACKING_URI", "ftp://x"),
    ("MLFLOW_REGISTRY_URI", "bogus://y"),
    ("SMX_FEATURES_PATH", "nosuchproto://bucket/features"),
    ("SMX_SENSOR_STORE_URL", "redis://127.0.0.1:6379/0"),
    ("SMX_HERD_DB_URL", "postgresql+psycopg2://smx:Hunter2Zq@127.0.0.1:abc/herd"),  # a non-numeric port
    ("SMX_HERD_DB_URL", "postgresql+pg8000://smx@127.0.0.1:5432/herd"),  # a driver that is not installed
    ("SMX_HERD_DB_URL", "postgresql://smx@127.0.0.1:5432/herd"),  # SQLAlchemy 2.1: psycopg 3, not installed
]


@pytest.mark.parametrize(("name", "value"), CLI_URL_CASES, ids=[f"{n}={v}" for n, v in CLI_URL_CASES])
def test_smx_demo_refuses_a_bad_url_before_any_work(tmp_path: Path, name: str, value: str) -> None:
    from smx_assets_tests.reliability.helpers import smx

    p = smx(tmp_path, "demo", "--animals", "3", "--days", "2", env={name: value}, timeout=120)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"smx: bad configuration: {name}="), p.stderr
    assert p.stdout == "" and "Traceback" not in p.stderr
    assert "Hunter2Zq" not in p.stderr  # a refused URL is echoed with its password masked
    assert not (tmp_path / "smx").exists()  # no SMX_HOME: no herd.db, no sensors.db, no simulation
    assert list(tmp_path.iterdir()) == []  # nor anything in DAGSTER_HOME (no run storage, no runs)
