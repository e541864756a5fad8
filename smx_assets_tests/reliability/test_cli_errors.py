"""Every ``smx`` command answers bad input with one line and a non-zero exit, before doing any
work, never with a traceback; an empty home says so and creates nothing; a URL's password
never shows. Each case runs the real ``smx`` entry point in a fresh ``SMX_HOME``/``DAGSTER_HOME``."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.domain.ingest_validation import FUTURE_TOLERANCE
from smx_assets_tests.reliability.helpers import free_port, smx, smx_env

pytestmark = pytest.mark.slow  # ~1.5 min: failing runs and full disks through the CLI

CANARY = "Can4ry#pw/x?y@z%"  # '#', '/', '?', '@', '%' unencoded


def _one_line_error(p: subprocess.CompletedProcess, *needles: str) -> str:
    assert p.returncode != 0, p.stdout + p.stderr
    err = p.stderr.strip()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in p.stdout + p.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


BAD_ARGUMENTS = [
    (["simulate", "--animals", "0"], ["--animals", "0 is not allowed", "from 1 to"]),
    (["simulate", "--live", "--steps", "-3"], ["--steps", "-3 is not allowed"]),
    (["simulate", "--start", "1999-12-31"], ["--start", "before 2000-01-01"]),
    (["simulate", "--start", "notadate"], ["--start", "YYYY-MM-DD"]),
    (["simulate", "--start", "2030-01-01"], ["--start 2030-01-01 is after today", "use today or an earlier day"]),
    (["simulate", "--animals", "1", "--farms", "2"], ["--farms 2 is more than --animals 1"]),
    (["demo", "--score-days", "-1"], ["--score-days", "-1 is not allowed"]),
    (["demo", "--animals", "0"], ["--animals", "0 is not allowed"]),
    (["demo", "--days", "3", "--score-days", "5"], ["--score-days 5 is more than --days 3"]),
    (["summary", "--since", "notadate"], ["--since", "'notadate' is not a time", "YYYY-MM-DD"]),
    (["explain", "abc"], ["alert_id", "'abc' is not a whole number >= 1"]),
    (["explain", "0"], ["alert_id", "0 is not allowed"]),
    (["rollback", "heat", "--to-version", "0"], ["--to-version", "0 is not allowed"]),
    (["rollback", "nosuch"], ["unknown use case 'nosuch'", "calving, fever, heat"]),
    # issue 28: use cases against the catalog, ranges ordered and within reach, ids within range
    (["score", "--from", "2026-11-01", "--to", "2026-11-01", "--use-case", "nosuch"],
     ["--use-case", "unknown use case 'nosuch'", "calving, fever, heat"]),
    (["score", "--from", "1900-01-01", "--to", "1900-01-02"], ["--from", "1900-01-01 is before 2000-01-01"]),
    (["score", "--from", "2026-11-05", "--to", "2026-11-01"], ["--to 2026-11-01 is before --from 2026-11-05"]),
    (["score", "--from", "2099-01-01", "--to", "2099-01-02"], ["--from 2099-01-01 is after today"]),
    (["alerts", "--from", "2026-11-05", "--to", "2026-11-01"], ["--to 2026-11-01 00:00 is not after --from 2026-11-05"]),
    (["alerts", "--from", "2026-11-05T06:00", "--to", "2026-11-05T06:00"], ["is not after --from"]),
    (["alerts", "--use-case", "nosuch"], ["--use-case", "unknown use case 'nosuch'"]),
    (["alerts", "--from", "1900-01-01"], ["--from", "before 2000-01-01"]),
    (["alerts", "--to", "yesterday"], ["--to", "'yesterday' is not a time"]),
    (["rollback", "nosuchcase"], ["use_case", "unknown use case 'nosuchcase'", "or a registered model name smx-"]),
    (["rollback", "heat", "--to-version", "99999999999999999999"], ["--to-version", "is not allowed"]),
    (["rollback", "heat", "--tracking-uri", "ftp://x"], ["--tracking-uri", "MLflow has no tracking store for the scheme 'ftp'"]),
    (["explain", "99999999999999999999"], ["alert_id", "99999999999999999999 is not allowed", str(2**63 - 1)]),
    (["explain", "9" * 400], ["alert_id", "is not allowed", "(400 digits)"]),
    (["simulate", "--seed", "99999999999999999999"], ["--seed", "is not allowed"]),
    (["simulate", "--herd-db-url", "postgresql+psycopg2://u@127.0.0.1:abc/herd"], ["--herd-db-url", "the port is not"]),
    (["simulate", "--sensor-store-url", "redis://127.0.0.1/0"], ["--sensor-store-url", "unsupported scheme 'redis'"]),
    (["migrate", "--url", "postgresql+pg8000://u@127.0.0.1/herd"], ["--url", "the driver 'pg8000'"]),
]


@pytest.mark.parametrize(("args", "needles"), BAD_ARGUMENTS, ids=[" ".join(a)[:60] for a, _ in BAD_ARGUMENTS])
def test_bad_arguments_get_one_line_exit_2_and_no_work(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    p = smx(tmp_path, *args)
    assert p.returncode == 2, p.stderr
    line = _one_line_error(p, *needles)
    assert line.startswith(f"smx {args[0]}: ") and "OverflowError" not in line
    assert p.stdout == ""
    # Checked before any work: no SMX_HOME, no store, no Dagster instance, no run.
    assert list(tmp_path.iterdir()) == [], sorted(str(f) for f in tmp_path.rglob("*"))


@pytest.mark.parametrize("args", [["summary"], ["explain", "1"], ["summary", "--since", "2026-11-01"], ["alerts"],
                                  ["alerts", "--csv"]])
def test_empty_home_says_nothing_here_yet_and_creates_nothing(tmp_path: Path, args: list[str]) -> None:
    p = smx(tmp_path, *args)
    _one_line_error(p, "nothing here yet: run smx demo or smx import")
    assert p.stdout == ""  # not even a CSV header
    assert not (tmp_path / "smx").exists()  # no SMX_HOME folder, so no herd.db, no mlflow.db


def test_verbose_shows_the_traceback_masked(tmp_path: Path) -> None:
    url = f"influxdb://admin:{CANARY}@127.0.0.1:{free_port()}/smx?timeout=abc"
    p = smx(tmp_path, "--verbose", "simulate", "--animals", "2", "--days", "1", env={"SMX_SENSOR_STORE_URL": url})
    assert p.returncode != 0
    assert CANARY not in p.stdout + p.stderr
    assert "timeout" in p.stderr and "admin:***@127.0.0.1" in p.stderr


def test_rollback_against_an_unreachable_mlflow_server_masks_the_password(tmp_path: Path) -> None:
    uri = f"http://mluser:{CANARY}@127.0.0.1:{free_port()}"
    p = smx(tmp_path, "rollback", "heat", "--tracking-uri", uri,
            env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"})
    line = _one_line_error(p, "127.0.0.1")
    assert CANARY not in p.stdout + p.stderr and "Can4ry" not in p.stdout + p.stderr, line


def test_simulate_into_the_future_stores_nothing_ahead_of_the_wall_clock(tmp_path: Path) -> None:
    today = dt.datetime.now(dt.timezone.utc).date()
    p = smx(tmp_path, "simulate", "--animals", "2", "--days", "2", "--start", today.isoformat())
    assert p.returncode == 0, p.stderr  # today and tomorrow: tomorrow is ahead of the wall clock
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'smx' / 'herd.db'}")
    with engine.connect() as conn:
        future = conn.execute(sa.text("SELECT count(*) FROM rejected_readings WHERE reason = 'future'")).scalar_one()
    engine.dispose()
    sensors = sa.create_engine(f"sqlite:///{tmp_path / 'smx' / 'sensors.db'}")
    with sensors.connect() as conn:
        latest = conn.execute(sa.text("SELECT max(ts) FROM bolus_readings")).scalar_one()
    sensors.dispose()
    assert future >= 2 * 144, future  # at least all of tomorrow's bolus readings, counted
    assert latest is not None  # today's readings up to now are stored (ts: epoch seconds) ...
    # ... none ahead of now (beyond the clock-skew tolerance a farm's clock is allowed)
    assert pd.Timestamp(latest, unit="s", tz="UTC") <= pd.Timestamp.now(tz="UTC") + FUTURE_TOLERANCE
    assert "future" in p.stdout


# Every command, each with one of the bad settings: checked at start, before any work.
BAD_SETTINGS = [
    ("SMX_SCORING_MAX_NEW_PER_TICK", "-1", "an integer from 1 to 1000"),
    ("SMX_SCORING_GRACE_MINUTES", "-600", "a number from 0 to 1440"),
    ("SMX_SCORING_GRACE_MINUTES", "abc", "a number from 0 to 1440"),
    ("SMX_PARTITIONS_START", "notadate", "a date YYYY-MM-DD"),
    ("SMX_SENSOR_STORE_URL", f"influxdb://admin:{CANARY}@127.0.0.1:1/smx?timeout=abc", "timeout='abc'"),
]
EVERY_COMMAND = [
    ["simulate", "--animals", "2", "--days", "1"], ["migrate"], ["demo", "--animals", "3", "--days", "2"],
    ["score", "--from", "2026-11-01", "--to", "2026-11-01"], ["summary"], ["explain", "1"], ["rollback", "heat"],
    ["import", "exports.csv"], ["alerts"], ["train"], ["replay", "1"], ["serve", "--port", "1"],
]
SETTING_CASES = [(cmd, BAD_SETTINGS[i % len(BAD_SETTINGS)]) for i, cmd in enumerate(EVERY_COMMAND)]


@pytest.mark.parametrize(("args", "bad"), SETTING_CASES, ids=[f"{a[0]}-{b[0]}={b[1][:12]}" for a, b in SETTING_CASES])
def test_every_command_refuses_a_bad_setting_with_one_line(tmp_path: Path, args: list[str],
                                                           bad: tuple[str, str, str]) -> None:
    from smx_assets.cli import COMMAND_MODULES

    assert len(EVERY_COMMAND) == len(COMMAND_MODULES)  # a new command gets a case here
    name, value, allowed = bad
    p = smx(tmp_path, *args, env={name: value})
    assert p.returncode == 2
    line = _one_line_error(p, "bad configuration", f"{name}=", allowed)
    assert CANARY not in line and "Can4ry" not in p.stdout + p.stderr
    assert not (tmp_path / "smx").exists()  # refused before anything was created


def test_a_failed_statement_is_worded_by_the_database_without_sql_or_parameters() -> None:
    from smx_assets.cli import _message

    engine = sa.create_engine("sqlite://")
    with pytest.raises(sa.exc.IntegrityError) as err, engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (a INTEGER NOT NULL)"))
        conn.execute(sa.text("INSERT INTO t (a) VALUES (:a)"), [{"a": None}] * 5000)
    assert "[SQL: INSERT INTO t" in str(err.value) and "[parameters:" in str(err.value)  # SQLAlchemy's text
    assert _message(err.value) == "NOT NULL constraint failed: t.a (writing t)"


# ------------------------------------------------------------------ a run that fails, a full disk

YESTERDAY = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)).isoformat()
TRACE_MARKS = ("Traceback", "Stack Trace", 'File "', "DagsterExecutionStepExecutionError")


def _not_logging(p: subprocess.CompletedProcess) -> list[str]:
    """Standard error without the commands' own INFO/WARNING log records (alembic's migrations,
    the registry's rule fallback: progress, one record a line) and the step's progress line."""
    return [line for line in p.stderr.splitlines()
            if line.strip() and not re.match(r"\d{4}[-/]\d\d[-/]\d\d[ T]\d\d:\d\d:\d\d(,\d+)? (INFO|WARNING) ", line)
            and "retro-scoring" not in line]


ROOT = Path(__file__).resolve().parents[2]


def _with_instance(home: Path) -> Path:
    """``home`` as ``DAGSTER_HOME`` with the repository's ``dagster.yaml`` (the pid-checking run
    launcher, telemetry off: no first-run banner on standard error), as ``make demo`` has it."""
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    return home


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with a small simulated herd and every use case's rule baseline registered (smx train)."""
    home = _with_instance(tmp_path_factory.mktemp("trained"))
    sim = smx(home, "simulate", "--animals", "6", "--days", "3", "--farms", "1")
    assert sim.returncode == 0, sim.stderr
    train = smx(home, "train")
    assert train.returncode == 0, train.stderr
    return home


def test_a_failed_run_is_one_line_naming_the_step_the_error_and_the_full_log(tmp_path: Path) -> None:
    """No model registered: the scoring run fails in its step. Dagster's STEP_FAILURE and
    RUN_FAILURE blocks (two stack traces) stay in the run's event log; the terminal gets one line."""
    _with_instance(tmp_path)
    assert smx(tmp_path, "simulate", "--animals", "4", "--days", "2", "--farms", "1").returncode == 0
    p = smx(tmp_path, "score", "--from", YESTERDAY, "--to", YESTERDAY)
    assert p.returncode == 1, p.stderr
    assert not any(mark in p.stderr for mark in TRACE_MARKS), p.stderr
    lines = _not_logging(p)
    assert len(lines) == 1, p.stderr
    line = lines[0]
    assert re.match(r"smx score: step retro_score_range of run [0-9a-f-]{36} failed: ", line), line
    assert "no smx-heat@champion and no rule baseline smx-heat-rule registered" in line
    assert f"the full log: smx -v score --from {YESTERDAY} --to {YESTERDAY}" in line
    verbose = smx(tmp_path, "-v", "score", "--from", YESTERDAY, "--to", YESTERDAY)  # what the line points to
    assert verbose.returncode == 1 and "Stack Trace" in verbose.stderr and "STEP_FAILURE" in verbose.stderr


# A real full disk: a tmpfs of a few KB (root may mount one; this machine's suite runs as root).
# Without root the write point is made to fail with ENOSPC instead, and the test's id says so.
FULL_DISK = "tmpfs" if os.geteuid() == 0 and shutil.which("mount") else "simulated-ENOSPC"


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a filesystem with no space left (a 64 KB tmpfs, filled)."""
    where = tmp_path / "full"
    where.mkdir()
    if FULL_DISK == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], check=True)
        with contextlib.suppress(OSError), (where / "filler").open("wb") as fh:
            fh.write(b"\0" * 1_000_000)  # fills it: ENOSPC part way
        assert shutil.disk_usage(where).free < 8192
    try:
        yield where
    finally:
        if FULL_DISK == "tmpfs":
            subprocess.run(["umount", str(where)], check=True)


def _smx_on_full_disk(home: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    if FULL_DISK == "tmpfs":
        return smx(home, *args, env=env)
    return subprocess.run([sys.executable, "-m", "smx_assets_tests.reliability._enospc_cli", *args],
                          env=smx_env(home, env), cwd=home, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("how", [FULL_DISK])
def test_a_full_disk_while_scoring_says_so_in_one_line(trained_home: Path, full_disk: Path, how: str) -> None:
    """The score store and baselines go to ``SMX_FEATURES_PATH`` on a full disk: pyarrow's
    ``OSError: [Errno 28]`` inside the Dagster run (106 lines and two stack traces before)."""
    p = _smx_on_full_disk(trained_home, "score", "--from", YESTERDAY, "--to", YESTERDAY,
                          env={"SMX_FEATURES_PATH": str(full_disk / "features")})
    assert p.returncode == 1, p.stderr
    assert not any(mark in p.stderr for mark in TRACE_MARKS), p.stderr
    lines = _not_logging(p)
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("smx score: step retro_score_range of run ")
    assert "the disk is full (OSError: [Errno 28] No space left on device" in lines[0], lines[0]
    assert "free space where the stores live (SMX_HOME, SMX_FEATURES_PATH, DAGSTER_HOME)" in lines[0]


@pytest.mark.parametrize("how", [FULL_DISK])
def test_a_full_disk_under_the_home_says_so_in_one_line(tmp_path: Path, full_disk: Path, how: str) -> None:
    """``smx simulate`` into a home on a full disk: SQLite's ``database or disk is full`` (or the
    folder's ENOSPC), said as a full disk, no traceback."""
    p = _smx_on_full_disk(tmp_path, "simulate", "--animals", "200", "--days", "30",
                          env={"SMX_HOME": str(full_disk / "smx")})
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr
    lines = _not_logging(p)
    assert len(lines) == 1 and lines[0].startswith("smx simulate: the disk is full ("), p.stderr
