"""Replay: prove that a stored score (an alert's, or any) comes from the recorded raw readings,
model version and code version, by recomputing it from scratch and comparing bit for bit.

* ``known``: the raw inputs as a run could have read them (readings received later left out,
  counted), and ``ReplayError`` (what makes a replay impossible: exit 2 in ``smx replay``);
* ``targets``: an alert or a stored score and the scoring run that made it;
* ``compare``: the bit-for-bit comparison of feature vectors;
* ``replay``: the stages (inputs, features, score, alert policy, code version) and the report;
* ``sample``: many replays (a random sample of a range's scores, a day's alerts) and a summary.

No Dagster here: ``smx replay`` (``commands/replay.py``) and the daily ``replay_audit`` of the
monitoring job (``defs/monitoring/replay_audit.py``) are thin shells around it.
"""

from smx_assets.domain.replay.known import ReplayError
from smx_assets.domain.replay.replay import Replayer, ReplayReport
from smx_assets.domain.replay.sample import (
    ReplaySummary,
    alert_ids_between,
    readings_kept_from,
    replay_all,
    sample_scores,
)
from smx_assets.domain.replay.targets import Target, alert_target, score_targets

__all__ = ["ReplayError", "ReplayReport", "ReplaySummary", "Replayer", "Target", "alert_ids_between", "alert_target",
           "readings_kept_from", "replay_all", "sample_scores", "score_targets"]
