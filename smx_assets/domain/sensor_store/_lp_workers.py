"""Worker processes that run influxdb-client's line-protocol serializer for big InfluxDB writes.

Why: the serializer costs about 4 µs a line in pure Python (a third of it building a
``Timestamp`` per row) - about as much CPU as influxd spends storing the line - and the GIL
keeps a thread from helping. With the serialising done in other processes, this process only
posts finished bodies (``requests`` releases the GIL while it waits), so on two cores Python and
influxd work at the same time.

Why plain subprocesses and not ``multiprocessing``: a spawned multiprocessing worker re-imports
the caller's ``__main__`` (an unguarded script would run again in every worker) and a forked one
inherits whatever locks other threads hold (Dagster and gRPC run threads). These workers run
``smx_assets.domain.sensor_store._lp_workers.main`` in a fresh interpreter and speak length-prefixed pickles over
their stdin/stdout: request ``(frame, measurement, tag, precision)``, answer
``(True, body bytes, line count)`` or ``(False, error text, 0)``. Each worker has at most one
request outstanding, so neither side can block the other on a full pipe.

The workers are started on first use, shared by every store in the process, used by one write
at a time (a concurrent writer serialises in-process), and ended at exit (end of stdin).
The caller passes their number (``SMX_INFLUX_SERIALIZE_WORKERS`` through the settings: default
2; 0 = always in-process).
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
_HEADER = 8


class WorkerError(RuntimeError):
    """A worker died or answered nonsense; the caller redoes the write in-process."""


def _read_exact(stream: Any, n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) != n:
        raise EOFError(f"expected {n} bytes, got {0 if data is None else len(data)}")
    return data


def _send(stream: Any, obj: Any) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(payload).to_bytes(_HEADER, "little"))
    stream.write(payload)
    stream.flush()


def _recv(stream: Any) -> Any:
    n = int.from_bytes(_read_exact(stream, _HEADER), "little")
    return pickle.loads(_read_exact(stream, n))


class _Worker:
    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[3])  # the folder holding smx_assets/
        # The worker finds this very package first (a checkout need not be installed); it
        # inherits the environment as any child process does.
        boot = f"import sys; sys.path.insert(0, {root!r}); from {__name__} import main; main()"
        self.proc = subprocess.Popen([sys.executable, "-c", boot], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def send(self, request: tuple[Any, ...]) -> None:
        try:
            _send(self.proc.stdin, request)
        except (OSError, ValueError) as exc:
            raise WorkerError(f"serialiser worker {self.proc.pid} gone: {exc}") from exc

    def recv(self) -> tuple[bytes, int]:
        try:
            ok, body, n_lines = _recv(self.proc.stdout)
        except (OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
            raise WorkerError(f"serialiser worker {self.proc.pid} gone (exit {self.proc.poll()}): {exc}") from exc
        if not ok:
            raise WorkerError(f"serialiser worker failed: {body}")
        return body, n_lines

    def stop(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()  # end of input: the worker exits
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=5)


class WorkerPool:
    """A few serialiser processes; :meth:`serialize` yields bodies in the pieces' order."""

    def __init__(self, n: int) -> None:
        self.workers = [_Worker() for _ in range(n)]
        self.busy = threading.Lock()
        self.broken = False

    def serialize(self, pieces: Sequence[Any], args: tuple[Any, ...]) -> Iterator[tuple[bytes, int]]:
        """(body, line count) per piece, piece i done by worker i mod n, n pieces in work at once.

        A generator: while the caller posts body i, the workers serialise the next pieces.
        Stop early only by closing it (its ``finally`` drains the answers still owed).
        """
        n = len(self.workers)
        sent = received = 0
        try:
            while sent < min(n, len(pieces)):
                self.workers[sent % n].send((pieces[sent], *args))
                sent += 1
            while received < len(pieces):
                result = self.workers[received % n].recv()
                received += 1
                if sent < len(pieces):
                    self.workers[sent % n].send((pieces[sent], *args))
                    sent += 1
                yield result
        except WorkerError:
            self.broken = True
            raise
        finally:
            if not self.broken:
                try:  # answers still owed (the caller stopped early): read them so pipes stay in step
                    while received < sent:
                        self.workers[received % n].recv()
                        received += 1
                except WorkerError:
                    self.broken = True

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


_pool: WorkerPool | None = None
_disabled = False
_lock = threading.Lock()


def acquire_pool(workers: int = DEFAULT_WORKERS) -> WorkerPool | None:
    """The shared pool (``workers`` processes when it is started), locked for the caller (release
    with :func:`release_pool`), or None when ``workers`` is 0, they cannot start, or another
    thread is using them."""
    global _pool, _disabled
    if workers <= 0:
        return None
    n = workers
    with _lock:
        if _pool is not None and _pool.broken:
            _pool.stop()
            _pool = None
        if _pool is None and not _disabled:
            try:
                _pool = WorkerPool(n)
            except OSError as exc:
                log.warning("cannot start serialiser processes (%s); serialising in-process", exc)
                _disabled = True
                return None
            atexit.register(_shutdown)
        pool = _pool
    if pool is None or not pool.busy.acquire(blocking=False):
        return None
    return pool


def release_pool(pool: WorkerPool) -> None:
    pool.busy.release()


def _shutdown() -> None:
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.stop()


def _serve(serialize: Callable[..., tuple[bytes, int]]) -> None:
    # answers go to a private copy of stdout; fd 1 now points at stderr, so a stray print or
    # log line cannot corrupt the protocol
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    while True:
        try:
            request = _recv(inp)
        except EOFError:
            return
        try:
            body, n_lines = serialize(*request)
            answer: tuple[Any, ...] = (True, body, n_lines)
        except Exception as exc:  # reported to the parent, which raises or falls back
            answer = (False, f"{type(exc).__name__}: {exc}", 0)
        try:
            _send(out, answer)
        except BrokenPipeError:
            return


def main() -> None:
    """A worker process's body: serve line-protocol requests until stdin ends."""
    from smx_assets.domain.sensor_store.line_protocol import line_protocol

    _serve(line_protocol)


if __name__ == "__main__":
    main()
