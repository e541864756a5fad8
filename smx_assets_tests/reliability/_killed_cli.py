"""The real ``smx`` command line, SIGKILLed inside its Dagster run (``test_cli_errors``): run as
``python -m smx_assets_tests.reliability._killed_cli score --from D --to D``, it is ``smx
score`` except that the process kills itself right after the run's scores were committed, before
alerts: no cleanup, no run-failure event, the run left STARTED in ``DAGSTER_HOME``'s instance,
as after a ``kill -9`` or a lost container. Configured through the environment like ``smx``."""

import os
import signal
import sys

from smx_assets.domain.score_store.writer import ScoreWriter


def _commit_then_die(writer: ScoreWriter, buckets, _commit=ScoreWriter.commit) -> int:  # type: ignore[no-untyped-def]
    _commit(writer, buckets)
    os.kill(os.getpid(), signal.SIGKILL)
    return 0


if __name__ == "__main__":
    ScoreWriter.commit = _commit_then_die  # type: ignore[method-assign]
    from smx_assets import cli

    cli.main(sys.argv[1:])
    raise SystemExit("the command finished although it should have been killed")
