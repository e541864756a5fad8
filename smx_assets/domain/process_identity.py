"""Who runs this code, and whether a process recorded earlier is still alive.

A run left ``RUNNING`` (MLflow) or ``STARTED`` (Dagster) by a process that was killed
(``kill -9``, OOM, a lost container) lies until someone ends it. Runs are tagged with the
host, pid and the process's start time; a later process ends only those whose recorded
process is certainly gone: same host, and no process with that pid — or one with that pid
that started at another time (the pid was reused). Runs of another host are left alone:
from here nothing can tell whether they are alive.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

# Tag names, shared by MLflow runs and Dagster runs.
TAG_HOST = "smx.host"
TAG_PID = "smx.pid"
TAG_STARTED = "smx.proc_start"


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux ``/proc``), '' elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return ""
    # Field 22; the command name (field 2) may hold spaces and ')' so split after the last ')'.
    return stat.rsplit(")", 1)[-1].split()[19]


@dataclass(frozen=True)
class ProcessId:
    host: str
    pid: int
    started: str = ""

    def tags(self, prefix: str = "") -> dict[str, str]:
        return {prefix + TAG_HOST: self.host, prefix + TAG_PID: str(self.pid), prefix + TAG_STARTED: self.started}

    @classmethod
    def from_tags(cls, tags: dict[str, str], prefix: str = "") -> ProcessId | None:
        try:
            return cls(tags[prefix + TAG_HOST], int(tags[prefix + TAG_PID]), tags.get(prefix + TAG_STARTED, ""))
        except (KeyError, ValueError):
            return None


def current() -> ProcessId:
    pid = os.getpid()
    return ProcessId(socket.gethostname(), pid, _start_ticks(pid))


def is_gone(proc: ProcessId) -> bool:
    """True only when ``proc`` ran on this host and has certainly ended."""
    if proc.host != socket.gethostname():
        return False
    try:
        os.kill(proc.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by someone else
        pass
    # The pid exists: the same process only if it started at the recorded time.
    return bool(proc.started) and _start_ticks(proc.pid) not in ("", proc.started)
