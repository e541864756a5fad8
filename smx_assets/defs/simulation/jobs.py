"""The farm stand-in for demos: the simulator's live mode on a ten-minute schedule.

With ``dagster dev`` and this schedule running, readings (some of them late) keep arriving,
the scoring sensor scores each new bucket and alerts appear without anyone clicking. The
schedule starts RUNNING only when ``SMX_LIVE_SIMULATION=1`` (``make ui`` sets it): a production
deployment must never write simulated data into a real store by default.
"""

import dagster as dg

from smx_assets.domain.simulator.live import live_step, load_state, steps_behind, wall_clock
from smx_assets.domain.time_grid import utc
from smx_assets.resources import HerdDbResource, SensorStoreResource

# After a pause (or the demo, whose history ends at midnight) the farm catches up with the
# clock in one run: up to two days of farm time, a few seconds of simulation for a demo herd.
MAX_STEPS_PER_RUN = 6 * 48


@dg.op(description="Deliver the simulated farm's readings and records up to now (at most 48 h per run), "
                   "stamped with the wall-clock time of delivery.")
def deliver_simulated_readings(
    context: dg.OpExecutionContext, herd_db: HerdDbResource, sensor_store: SensorStoreResource
) -> dg.Output[dict]:
    engine = herd_db.engine()
    state = load_state(engine)
    if state is None:
        raise dg.Failure("no simulated herd: run `smx simulate` (or `smx demo`) first")
    _, until = state
    now = wall_clock()
    until = utc(until)
    steps = min(MAX_STEPS_PER_RUN, steps_behind(until, now))
    if steps == 0:
        context.log.info("simulated farm is up to date (%s)", until)
        return dg.Output({"steps": 0}, metadata={"steps": 0, "simulated_until": str(until)})
    out = live_step(engine, sensor_store.open(), steps=steps, now=now)
    context.log.info("delivered %s -> %s: %s bolus readings (%s late), %s climate readings",
                     out["since"], out["until"], out["bolus"], out["late_bolus"], out["climate"])
    meta = {"steps": steps, "bolus_readings": int(out["bolus"]), "late_bolus_readings": int(out["late_bolus"]),
            "climate_readings": int(out["climate"]), "simulated_until": str(out["until"])}
    return dg.Output(meta, metadata=meta)


# Priority 10 (scoring's new buckets are 5): the farm's delivery leaves the run queue first, and
# its own queue limit (dagster.yaml) keeps it from ever waiting behind scoring runs.
@dg.job(executor_def=dg.in_process_executor, tags={"smx/run_kind": "simulation", "dagster/priority": "10"},
        description="Append the simulated farm's next readings (live demo mode).")
def live_simulation_job() -> None:
    deliver_simulated_readings()
