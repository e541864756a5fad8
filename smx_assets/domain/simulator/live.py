"""Live mode: each call appends the next 10 minutes of a simulated herd, as a real farm would.

State lives in the herd DB's ``simulation_state`` table (key ``simulator``): the herd's
``SimConfig`` and ``simulated_until``. A step rebuilds the herd from the config (deterministic,
well under a second for 1000 cows), regenerates the recent days and writes exactly what
*arrives* in ``[until, until + 10 min)``: the new readings that are on time and older readings
that were out of reach of the base station and arrive late now; plus the farm records that get
entered in that window. Because generation is window-independent, a herd run live for a day
holds the same readings as the same herd simulated in batch.

The farm keeps to the wall clock: a step never delivers readings from after ``now`` (the
position stops at the last bucket boundary before it) and never moves backwards, and what a
step delivers is stamped ``received_at`` = the wall-clock time of delivery. The simulated arrival
time decides *which* step delivers a reading (late blocks arrive hours after their ``ts``); the
stamp says when it really reached the store, which is what the scoring sensor's late-data
check compares with its own clock (a reading stamped in farm time would look as old as its
simulated arrival and never be seen as late).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from smx_assets.domain.herd_db import SimulationState
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.simulator.config import HORIZON_MARGIN_DAYS, SimConfig
from smx_assets.domain.simulator.herd import build_herd
from smx_assets.domain.simulator.loader import (
    ReadingWriter,
    batch_prefix,
    default_bolus_writer,
    default_climate_writer,
    write_herd_delta,
    write_readings,
)
from smx_assets.domain.simulator.simulation import bolus_readings, climate_readings
from smx_assets.domain.time_grid import BUCKET

log = logging.getLogger(__name__)

STATE_KEY = "simulator"
STEP = BUCKET  # one delivery step is one bucket
MAX_LATENESS = pd.Timedelta(hours=9)  # late blocks arrive at most 8 h after their readings


def save_state(engine: Engine, config: SimConfig, simulated_until: pd.Timestamp) -> None:
    """Remember which herd is simulated and how far its data has been delivered."""
    value = {"config": config.to_dict(), "simulated_until": pd.Timestamp(simulated_until).isoformat()}
    with Session(engine) as session, session.begin():
        session.merge(SimulationState(key=STATE_KEY, value=value))


def load_state(engine: Engine) -> tuple[SimConfig, pd.Timestamp] | None:
    with Session(engine) as session:
        row = session.get(SimulationState, STATE_KEY)
        if row is None:
            return None
        return SimConfig.from_dict(row.value["config"]), pd.Timestamp(row.value["simulated_until"])


def wall_clock() -> pd.Timestamp:
    """The live farm's clock (tests pass their own ``now`` instead)."""
    return pd.Timestamp.now(tz="UTC")


def steps_behind(since: pd.Timestamp, now: pd.Timestamp) -> int:
    """Whole steps between the farm's position and the last bucket boundary before ``now``."""
    return max(0, int((pd.Timestamp(now).floor(STEP) - pd.Timestamp(since)) // STEP))


def live_step(engine: Engine, store: SensorStore, steps: int = 1, *,
              bolus_writer: ReadingWriter | None = None, climate_writer: ReadingWriter | None = None,
              now: pd.Timestamp | None = None) -> dict[str, Any]:
    """Deliver the next ``steps`` x 10 minutes, but never past ``now`` (default: the wall clock).

    Returns what was written and the new position; ``steps_delivered`` < ``steps`` when the
    farm reached the clock (0: it is current, nothing is written and the position stays).
    """
    if int(steps) < 0:
        raise ValueError(f"steps must be >= 0 (the farm never moves backwards), got {steps}")
    state = load_state(engine)
    if state is None:
        raise RuntimeError("no simulation state: run `smx simulate --animals N --days D` first")
    config, since = state
    now = pd.Timestamp(now) if now is not None else wall_clock()
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    delivered = min(int(steps), steps_behind(since, now))
    if delivered == 0:
        return {"since": since, "until": since, "bolus": 0, "late_bolus": 0, "climate": 0, "records": {},
                "steps_delivered": 0, "received_at": None}
    until = since + delivered * STEP
    horizon = max(config.start_day + config.days, int((until - pd.Timestamp(0, tz="UTC")).days) + 1)
    herd = build_herd(config, horizon_day=horizon + HORIZON_MARGIN_DAYS)

    lo = max(since - MAX_LATENESS, config.start_ts)
    bolus = bolus_readings(herd, lo, until)
    bolus = bolus[(bolus["received_at"] >= since) & (bolus["received_at"] < until)]
    clim = climate_readings(herd, max(since - pd.Timedelta(hours=1), config.start_ts), until)
    if not clim.empty:
        clim = clim[(clim["received_at"] >= since) & (clim["received_at"] < until)]

    # Stamped when they really reach the store (see the module docstring); the order of
    # arrival within the delivery is kept by the writer's stable sort on the simulated time.
    bolus = bolus.assign(received_at=now)
    if not clim.empty:
        clim = clim.assign(received_at=now)
    arrived_by = now + pd.Timedelta(microseconds=1)  # write_readings keeps received_at < arrived_by
    records = write_herd_delta(herd, engine, since, until)
    if not clim.empty:
        write_readings(clim, store, engine, arrived_by, what="climate", writer=climate_writer
                       or default_climate_writer(engine, batch_prefix(config, "climate", since)))
    write_readings(bolus, store, engine, arrived_by, writer=bolus_writer
                   or default_bolus_writer(engine, batch_prefix(config, "bolus", since)))
    save_state(engine, config, until)
    late = int((bolus["ts"] < since).sum())
    log.info("live: %s -> %s: %d bolus readings (%d late), %d climate, records %s",
             since, until, len(bolus), late, len(clim), records)
    return {"since": since, "until": until, "bolus": len(bolus), "late_bolus": late,
            "climate": len(clim), "records": records, "steps_delivered": delivered, "received_at": now}
