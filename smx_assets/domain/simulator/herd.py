"""Farms, animals, housing and each cow's reproduction and disease timeline.

The timeline is laid out once, when the herd is created, from ``HISTORY_DAYS`` before the
window to ``HORIZON_MARGIN_DAYS`` after it: every heat, insemination, pregnancy, calving and
fever with its parameters. Signals are then pure functions of this timeline and time, which is
what makes chunked and live generation reproduce the batch exactly.

Each cow's timeline uses its own sequential generators (seed, animal, process), and ids are
``animal_id * block + kind offset + k``, so a longer horizon (live mode running on) extends a
cow's history without changing what was already generated or any row id.

The cows start at random points of their calving interval (last calving 0-400 days before the
window), so a 30-day window of 1000 cows holds dozens of calvings and hundreds of heats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smx_assets.domain.simulator.climate import lagged_thi
from smx_assets.domain.simulator.config import HISTORY_DAYS, HORIZON_MARGIN_DAYS, SimConfig
from smx_assets.domain.simulator.rng import Stream, animal_generator, normal, uniform

GRAZING_DOY = (104, 288)  # mid-April to mid-October (day of year, 0-based)
BREEDS = np.array(["Holstein", "Fleckvieh", "Brown Swiss", "Jersey"])
SIRES = [f"SIRE-{i:03d}" for i in range(40)]
# gt_events ids: animal_id * 10_000 + offset + k (k < 1000 per kind and animal)
GT_OFFSET = {"heat": 1000, "ovulation": 2000, "calving": 3000, "metritis": 4000, "mastitis": 5000,
             "milk_fever": 6000, "pregnancy": 7000}
TREATMENT_OFFSET = {"metritis": 0, "mastitis": 300, "milk_fever": 600}
_PROC_REPRO, _PROC_MASTITIS, _PROC_STATIC = 1, 2, 3
MIN_PER_DAY = 1440.0
NEW_BOLUS_SPAN_DAYS = 30.0


def _ts(minutes: np.ndarray | pd.Series | float) -> pd.Series | pd.Timestamp:
    """Minutes since the epoch -> aware UTC timestamps (to the second)."""
    if np.ndim(minutes) == 0:
        return pd.Timestamp(round(float(minutes) * 60), unit="s", tz="UTC")
    index = minutes.index if isinstance(minutes, pd.Series) else None
    secs = np.round(np.asarray(minutes, dtype=np.float64) * 60.0)
    missing = np.isnan(secs)
    # Whole seconds go through datetime64[s] rather than to_datetime(float, unit="s"): pandas
    # 2.3's float path reads uninitialised memory at NaN positions and can raise
    # FloatingPointError (overflow) depending on what that memory held.
    stamps = np.where(missing, 0, secs).astype(np.int64).astype("datetime64[s]")
    stamps[missing] = np.datetime64("NaT")
    return pd.Series(pd.DatetimeIndex(stamps).tz_localize("UTC").as_unit("ns"), index=index)


def in_grazing_season(day: np.ndarray) -> np.ndarray:
    """Whether days (since the epoch) fall in the grazing season."""
    dates = np.datetime64("1970-01-01", "D") + np.asarray(day, dtype=np.int64)
    doy = (dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
    return (doy >= GRAZING_DOY[0]) & (doy < GRAZING_DOY[1])


@dataclass
class Herd:
    """The herd's records (herd-DB tables) plus what the signal model needs per animal."""

    config: SimConfig
    farms: pd.DataFrame
    climate_sensors: pd.DataFrame
    animals: pd.DataFrame
    housing_periods: pd.DataFrame
    lactations: pd.DataFrame
    inseminations: pd.DataFrame
    treatments: pd.DataFrame
    gt_events: pd.DataFrame
    # per-animal arrays (index = row in ``animals``)
    params: dict[str, np.ndarray]
    # event tables for the signal model (times in minutes since the epoch, ``a`` = animal row)
    heats: pd.DataFrame
    calvings: pd.DataFrame
    fevers: pd.DataFrame
    horizon_day: int
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)  # per-day climate grids

    def on_pasture(self, animal_rows: np.ndarray, day: np.ndarray | int) -> np.ndarray:
        """Housing of animals on a day (whole days: moves happen at midnight)."""
        return self.params["pasture_farm"][animal_rows] & in_grazing_season(np.asarray(day))


def _farms(cfg: SimConfig) -> pd.DataFrame:
    n_pasture = int(round(cfg.n_farms * cfg.pasture_farm_share))
    ids = np.arange(cfg.first_farm_id, cfg.first_farm_id + cfg.n_farms)
    pasture = np.arange(cfg.n_farms) >= cfg.n_farms - n_pasture
    offsets = cfg.extra_heat_c + 1.0 * normal(cfg.seed, Stream.WEATHER, 99, ids)
    names = [cfg.farm_names[i] if i < len(cfg.farm_names) else f"Sim farm {fid}"
             for i, fid in enumerate(ids)]
    return pd.DataFrame({
        "id": ids,
        "name": names,
        "timezone": "UTC",
        "default_housing": np.where(pasture, "pasture", "barn"),
        "climate_profile": [{"offset_c": round(float(o), 3), "grazing": bool(p)} for o, p in zip(offsets, pasture)],
    })


def _climate_sensors(cfg: SimConfig, farms: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for i, farm in enumerate(farms.itertuples()):
        rows.append({"id": cfg.first_sensor_id + 2 * i, "farm_id": farm.id, "location": "barn",
                     "name": f"{farm.name} barn"})
        if farm.default_housing == "pasture":
            rows.append({"id": cfg.first_sensor_id + 2 * i + 1, "farm_id": farm.id, "location": "pasture",
                         "name": f"{farm.name} pasture"})
    return pd.DataFrame(rows, columns=["id", "farm_id", "location", "name"])


def _static_params(cfg: SimConfig, farms: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-cow constants drawn from the counter RNG (independent of window and herd size)."""
    ids = np.asarray(cfg.animal_ids, dtype=np.int64)
    n = len(ids)
    s = cfg.seed

    def u(k: int) -> np.ndarray:
        return uniform(s, Stream.COW, k, ids)

    def z(k: int) -> np.ndarray:
        return normal(s, Stream.COW, k, ids)

    farm_row = (np.arange(n) * cfg.n_farms) // n
    pasture_farm = (farms["default_housing"].to_numpy() == "pasture")[farm_row]
    offsets = np.array([p["offset_c"] for p in farms["climate_profile"]])[farm_row]
    start_min = cfg.start_day * MIN_PER_DAY
    new_bolus = u(10) < cfg.new_bolus_share
    # new boluses go in over the 30 days from ``start`` whatever the window, so a longer window
    # extends a shorter one instead of reshuffling insertions
    inserted = np.where(new_bolus, start_min + u(11) * NEW_BOLUS_SPAN_DAYS * MIN_PER_DAY,
                        start_min - (20.0 + u(11) * 680.0) * MIN_PER_DAY)
    has_ph = u(12) < cfg.ph_share
    return {
        "animal_id": ids,
        "farm_id": farms["id"].to_numpy()[farm_row],
        "pasture_farm": pasture_farm,
        "climate_offset_c": offsets,
        # undisturbed level; drinking drops pull the overall mean down by ~0.5 °C to ~39.0
        "temp_mean": 39.55 + 0.2 * z(1),
        "act_base": 12.0 * np.exp(0.25 * z(2)),
        "pasture_act": 1.2 + 0.3 * u(3),
        "drink_tau_min": 20.0 + 15.0 * u(4),
        "phase_s": np.floor(u(5) * 600.0),
        "hs_threshold": 68.0 + 4.0 * u(6),
        "has_ph": has_ph,
        "ph_mean": 6.22 + 0.08 * z(7) - np.where(u(8) < 0.15, 0.3, 0.0),  # ~15% SARA-prone
        "inserted_min": np.round(inserted),
        "breed_u": u(9),
    }


def _draw_heat(rng: np.random.Generator, cfg: SimConfig) -> dict[str, Any]:
    return {
        "silent": bool(rng.random() < cfg.silent_heat_share),
        "duration_h": float(rng.uniform(8.0, 15.0)),
        "ratio": float(np.clip(np.exp(rng.normal(np.log(2.8), 0.42)), 1.5, 6.0)),
        "temp_rise": float(rng.uniform(0.3, 0.6)),
        "ovulation_h": float(rng.normal(30.0, 2.5)),
        "dip": float(np.clip(rng.normal(0.5, 0.08), 0.3, 0.7)),
    }


def _reproduction(cfg: SimConfig, animal_id: int, start_d: float, horizon_d: float
                  ) -> dict[str, list[dict[str, Any]]]:
    """One cow's calvings, heats, inseminations, pregnancies and post-calving disorders (days)."""
    rng = animal_generator(cfg.seed, animal_id, _PROC_REPRO)
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in ("calving", "heat", "ins", "preg", "fever")}
    parity = int(rng.choice(5, p=[0.3, 0.25, 0.2, 0.15, 0.1])) + 1
    c = start_d - rng.uniform(0.0, 400.0)
    out["birth"] = [{"t": c - 730.0 - (parity - 1) * 395.0 - rng.uniform(0.0, 60.0)}]
    lact = parity
    while c < horizon_d:
        out["calving"].append({
            "t": c, "number": lact, "ease": int(rng.choice(4, p=[0.7, 0.2, 0.08, 0.02])) + 1,
            "calf_sex": "F" if rng.random() < 0.5 else "M", "record_delay": rng.uniform(0.05, 2.0),
            # DOMAIN: drop 0.3-0.6 °C starting 12-48 h before, about -0.5 °C 20 h before. Onsets
            # 12 + 36 sqrt(u) h (median ~37 h, ~8% after 22 h) and drops skewed to the deep end
            # (mean 0.52 °C) give a mean of about -0.48 °C 20 h before calving.
            "rise": rng.uniform(0.2, 0.4), "drop_start_h": 12.0 + 36.0 * np.sqrt(rng.uniform()),
            "drop": 0.6 - 0.3 * rng.uniform() ** 3, "act_rise": rng.uniform(0.2, 0.3)})
        if rng.random() < cfg.metritis_share:
            out["fever"].append({"cause": "metritis", "t": c + rng.uniform(3.0, 10.0), **_fever_shape(rng)})
        if rng.random() < cfg.milk_fever_share:
            out["fever"].append({"cause": "milk_fever", "t": c + rng.uniform(0.0, 0.5),
                                 "ramp_h": 2.0, "peak": -rng.uniform(0.6, 1.2),
                                 "plateau_h": rng.uniform(12.0, 30.0), "act_drop": rng.uniform(0.3, 0.5),
                                 "diag_delay": rng.uniform(0.0, 0.5), "diagnosed": True})
        vwp = rng.uniform(50.0, 60.0)
        t = c + rng.uniform(24.0, 35.0)
        next_c = None
        open_ins: dict[str, Any] | None = None
        while t < horizon_d:
            heat = {"t": t, **_draw_heat(rng, cfg)}
            p_detect = 0.05 if heat["silent"] else cfg.heat_detection_rate
            heat["detected"] = bool(t >= c + vwp and rng.random() < p_detect)
            out["heat"].append(heat)
            if heat["detected"]:
                ins_t = t + rng.uniform(6.0, 16.0) / 24.0
                if open_ins is not None and open_ins["check_t"] is not None and open_ins["check_t"] > ins_t:
                    open_ins["check_t"] = None  # she came back into heat: no check needed
                conceived = bool(rng.random() < cfg.conception_rate)
                ins = {"t": ins_t, "sire": SIRES[int(rng.integers(len(SIRES)))],
                       "recorded_t": ins_t + rng.uniform(0.0, 1.0),
                       "check_t": ins_t + rng.uniform(35.0, 45.0), "pregnant": conceived}
                out["ins"].append(ins)
                open_ins = ins
                if conceived:
                    next_c = ins_t + rng.normal(280.0, 5.0)
                    out["preg"].append({"t": ins_t, "end": next_c})
                    break
            t += float(np.clip(rng.normal(21.0, 1.5), 18.0, 24.0))
        if next_c is None:
            break
        c = next_c
        lact += 1
    return out


def _fever_shape(rng: np.random.Generator) -> dict[str, Any]:
    ramp = rng.uniform(6.0, 24.0)
    return {"ramp_h": ramp, "peak": rng.uniform(0.8, 2.0),
            "plateau_h": max(rng.uniform(24.0, 96.0) - ramp, 6.0), "act_drop": rng.uniform(0.15, 0.35),
            "diag_delay": rng.uniform(0.0, 4.0), "diagnosed": bool(rng.random() < 0.95)}


def _mastitis(cfg: SimConfig, animal_id: int, from_d: float, horizon_d: float) -> list[dict[str, Any]]:
    """Clinical mastitis as a Poisson process (``mastitis_per_cow_year``)."""
    rng = animal_generator(cfg.seed, animal_id, _PROC_MASTITIS)
    out = []
    t = from_d
    mean_gap = 365.25 / max(cfg.mastitis_per_cow_year, 1e-9)
    while True:
        t += rng.exponential(mean_gap)
        if t >= horizon_d:
            return out
        out.append({"cause": "mastitis", "t": t, **_fever_shape(rng)})


def build_herd(cfg: SimConfig, horizon_day: int | None = None) -> Herd:
    """Lay out farms, animals and every cow's timeline up to ``horizon_day`` (days since epoch)."""
    horizon_day = horizon_day or cfg.start_day + cfg.days + HORIZON_MARGIN_DAYS
    farms = _farms(cfg)
    sensors = _climate_sensors(cfg, farms)
    p = _static_params(cfg, farms)
    start_d = float(cfg.start_day)
    hist_d = start_d - HISTORY_DAYS

    cal, heat, ins, preg, fev, births = [], [], [], [], [], []
    for a, aid in enumerate(p["animal_id"].tolist()):
        r = _reproduction(cfg, aid, start_d, float(horizon_day))
        mast = _mastitis(cfg, aid, hist_d, float(horizon_day))
        births.append(r["birth"][0]["t"])
        for _kind, rows, sink in (("calving", r["calving"], cal), ("heat", r["heat"], heat),
                                 ("ins", r["ins"], ins), ("preg", r["preg"], preg)):
            for k, row in enumerate(rows):
                sink.append({"a": a, "animal_id": aid, "k": k, **row})
        ks = {"metritis": 0, "milk_fever": 0, "mastitis": 0}
        for row in r["fever"] + mast:
            fev.append({"a": a, "animal_id": aid, "k": ks[row["cause"]], **row})
            ks[row["cause"]] += 1

    heats = _heat_table(cfg, heat, p)
    calvings = pd.DataFrame(cal)
    fevers = pd.DataFrame(fev)
    for frame in (heats, calvings, fevers):
        if not frame.empty:  # whole minutes, so signals, tables and gt_events agree exactly
            frame["t_min"] = np.round(frame["t"].to_numpy() * MIN_PER_DAY)
            frame["t"] = frame["t_min"] / MIN_PER_DAY

    animals = pd.DataFrame({
        "id": p["animal_id"],
        "farm_id": p["farm_id"],
        "ear_tag": [f"SIM{aid:09d}" for aid in p["animal_id"]],
        "birth_date": [d.date() for d in _ts(np.array(births) * MIN_PER_DAY)],
        "breed": BREEDS[np.searchsorted([0.85, 0.93, 0.97], p["breed_u"])],
        "bolus_id": [f"BOL{aid:09d}" for aid in p["animal_id"]],
        "bolus_type": np.where(p["has_ph"], "temp_activity_ph", "temp_activity"),
        "bolus_inserted_at": _ts(p["inserted_min"]),
        "exit_date": None,
    })
    return Herd(
        config=cfg, farms=farms, climate_sensors=sensors, animals=animals,
        housing_periods=_housing(cfg, farms, p, int(hist_d), horizon_day),
        lactations=_lactation_table(calvings),
        inseminations=_insemination_table(pd.DataFrame(ins)),
        treatments=_treatment_table(fevers),
        gt_events=_gt_table(heats, calvings, fevers, pd.DataFrame(preg)),
        params=p, heats=heats, calvings=calvings, fevers=fevers, horizon_day=horizon_day,
    )


def _heat_table(cfg: SimConfig, rows: list[dict[str, Any]], p: dict[str, np.ndarray]) -> pd.DataFrame:
    """Heats with the expression the cow actually shows: silent ones barely, heat stress weaker."""
    heats = pd.DataFrame(rows)
    if heats.empty:
        return heats
    a = heats["a"].to_numpy()
    t_min = heats["t"].to_numpy() * MIN_PER_DAY
    day = np.floor(heats["t"].to_numpy()).astype(np.int64)
    pasture = p["pasture_farm"][a] & in_grazing_season(day)
    hs_thi = lagged_thi(cfg.seed, p["farm_id"][a], t_min + 6 * 60.0, p["climate_offset_c"][a], pasture)
    stress = np.clip((hs_thi - p["hs_threshold"][a]) / 10.0, 0.0, 1.0)
    silent = heats["silent"].to_numpy(bool)
    strength = np.where(silent, 0.08, 1.0 - 0.4 * stress)
    heats["thi"] = hs_thi
    heats["act_ratio"] = 1.0 + (heats["ratio"].to_numpy() - 1.0) * strength
    heats["temp_rise_eff"] = heats["temp_rise"].to_numpy() * np.where(silent, 0.25, 1.0 - 0.3 * stress)
    return heats


def _housing(cfg: SimConfig, farms: pd.DataFrame, p: dict[str, np.ndarray], first_day: int,
             horizon_day: int) -> pd.DataFrame:
    """Barn/pasture periods; grazing farms move the whole herd at the season's edges."""
    days = np.arange(first_day, horizon_day + 1)
    graze = in_grazing_season(days)
    edges = np.flatnonzero(np.diff(graze.astype(np.int8))) + 1  # first day of each new season
    grazing_periods = []
    bounds = [0, *edges.tolist()]
    for i, b in enumerate(bounds):
        end = days[bounds[i + 1]] if i + 1 < len(bounds) else None
        grazing_periods.append(("pasture" if graze[b] else "barn", days[b], end))
    rows = []
    for a, aid in enumerate(p["animal_id"].tolist()):
        periods = grazing_periods if p["pasture_farm"][a] else [("barn", first_day, None)]
        for k, (kind, s, e) in enumerate(periods):
            rows.append({"id": aid * 1000 + k, "animal_id": aid, "kind": kind,
                         "start": pd.Timestamp(int(s), unit="D", tz="UTC"),
                         "end": pd.Timestamp(int(e), unit="D", tz="UTC") if e is not None else pd.NaT})
    return pd.DataFrame(rows, columns=["id", "animal_id", "kind", "start", "end"])


def _lactation_table(cal: pd.DataFrame) -> pd.DataFrame:
    cols = ["id", "animal_id", "lactation_number", "calving_at", "ease", "calf_sex", "recorded_at"]
    if cal.empty:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame({
        "id": cal["animal_id"] * 100 + cal["k"],
        "animal_id": cal["animal_id"],
        "lactation_number": cal["number"],
        "calving_at": _ts(cal["t"] * MIN_PER_DAY),
        "ease": cal["ease"],
        "calf_sex": cal["calf_sex"],
        "recorded_at": _ts((cal["t"] + cal["record_delay"]) * MIN_PER_DAY),
    })


def _insemination_table(ins: pd.DataFrame) -> pd.DataFrame:
    cols = ["id", "animal_id", "at", "sire", "recorded_at", "pregnancy_check_at", "pregnant", "outcome_known_at"]
    if ins.empty:
        return pd.DataFrame(columns=cols)
    check = ins["check_t"].astype(float)
    # a negative outcome without a check is known when the return heat's insemination is recorded
    next_recorded = ins.groupby("animal_id")["recorded_t"].shift(-1)
    known = check.fillna(next_recorded)
    return pd.DataFrame({
        "id": ins["animal_id"] * 1000 + ins["k"],
        "animal_id": ins["animal_id"],
        "at": _ts(ins["t"] * MIN_PER_DAY),
        "sire": ins["sire"],
        "recorded_at": _ts(ins["recorded_t"] * MIN_PER_DAY),
        "pregnancy_check_at": _ts(check * MIN_PER_DAY),  # NaT when a return heat made it moot
        "pregnant": ins["pregnant"].astype(bool),
        "outcome_known_at": _ts(known * MIN_PER_DAY),  # not a DB column: when ``pregnant`` is known
    })


DIAGNOSIS_TREATMENT = {"mastitis": "intramammary antibiotic", "metritis": "systemic antibiotic",
                       "milk_fever": "calcium infusion"}


def _treatment_table(fev: pd.DataFrame) -> pd.DataFrame:
    cols = ["id", "animal_id", "diagnosed_at", "diagnosis", "treatment", "recorded_at"]
    if fev.empty:
        return pd.DataFrame(columns=cols)
    f = fev[fev["diagnosed"]]
    diag = f["t"] + f["diag_delay"]
    offset = f["cause"].map(TREATMENT_OFFSET)
    return pd.DataFrame({
        "id": f["animal_id"] * 1000 + offset + f["k"],
        "animal_id": f["animal_id"],
        "diagnosed_at": _ts(diag * MIN_PER_DAY),
        "diagnosis": f["cause"],
        "treatment": f["cause"].map(DIAGNOSIS_TREATMENT),
        "recorded_at": _ts((diag + 0.25) * MIN_PER_DAY),
    }).reset_index(drop=True)


def _gt_table(heats: pd.DataFrame, cal: pd.DataFrame, fev: pd.DataFrame, preg: pd.DataFrame) -> pd.DataFrame:
    """The ground truth models never see: start/end of each episode and its parameters."""
    parts = []
    if not heats.empty:
        h = heats
        parts.append(pd.DataFrame({
            "id": h["animal_id"] * 10_000 + GT_OFFSET["heat"] + h["k"], "animal_id": h["animal_id"],
            "kind": "heat", "start": _ts(h["t_min"]), "end": _ts(h["t_min"] + h["duration_h"] * 60.0),
            "attrs": [{"silent": bool(r.silent), "activity_ratio": round(r.act_ratio, 3),
                       "temp_rise_c": round(r.temp_rise_eff, 3), "duration_h": round(r.duration_h, 2),
                       "detected_by_farmer": bool(r.detected), "thi": round(r.thi, 1)}
                      for r in h.itertuples()]}))
        ov = h["t_min"] + h["ovulation_h"] * 60.0
        parts.append(pd.DataFrame({
            "id": h["animal_id"] * 10_000 + GT_OFFSET["ovulation"] + h["k"], "animal_id": h["animal_id"],
            "kind": "ovulation", "start": _ts(ov), "end": _ts(ov),
            "attrs": [{"silent": bool(r.silent), "dip_c": round(r.dip, 3),
                       "hours_after_onset": round(r.ovulation_h, 2)} for r in h.itertuples()]}))
    if not cal.empty:
        parts.append(pd.DataFrame({
            "id": cal["animal_id"] * 10_000 + GT_OFFSET["calving"] + cal["k"], "animal_id": cal["animal_id"],
            "kind": "calving", "start": _ts(cal["t_min"]), "end": pd.Series(pd.NaT, index=cal.index, dtype="datetime64[ns, UTC]"),
            "attrs": [{"lactation_number": int(r.number), "ease": int(r.ease),
                       "temp_rise_c": round(r.rise, 3), "drop_start_h": round(r.drop_start_h, 2),
                       "temp_drop_c": round(r.drop, 3), "activity_rise": round(r.act_rise, 3)}
                      for r in cal.itertuples()]}))
    if not fev.empty:
        end = fev["t_min"] + (fev["ramp_h"] + fev["plateau_h"] + 12.0) * 60.0
        parts.append(pd.DataFrame({
            "id": fev["animal_id"] * 10_000 + fev["cause"].map(GT_OFFSET) + fev["k"],
            "animal_id": fev["animal_id"],
            "kind": np.where(fev["cause"] == "milk_fever", "milk_fever", "fever"),
            "start": _ts(fev["t_min"]), "end": _ts(end),
            "attrs": [{"cause": r.cause, "peak_c": round(r.peak, 3), "ramp_h": round(r.ramp_h, 2),
                       "plateau_h": round(r.plateau_h, 2), "activity_drop": round(r.act_drop, 3),
                       "diagnosed": bool(r.diagnosed)} for r in fev.itertuples()]}))
    if not preg.empty:
        parts.append(pd.DataFrame({
            "id": preg["animal_id"] * 10_000 + GT_OFFSET["pregnancy"] + preg["k"], "animal_id": preg["animal_id"],
            "kind": "pregnancy", "start": _ts(preg["t"] * MIN_PER_DAY), "end": _ts(preg["end"] * MIN_PER_DAY),
            "attrs": [{} for _ in range(len(preg))]}))
    cols = ["id", "animal_id", "kind", "start", "end", "attrs"]
    if not parts:
        return pd.DataFrame(columns=cols)
    gt = pd.concat(parts, ignore_index=True)[cols]
    gt["end"] = pd.to_datetime(gt["end"], utc=True)  # calvings have none: keep the dtype, not object
    return gt.sort_values(["animal_id", "start", "id"]).reset_index(drop=True)
