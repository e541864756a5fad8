"""The animal's static and slowly changing profile, as known at a bucket.

Everything here is "as recorded": a calving entered into the farm software two days late only
changes features from the moment it was entered (``recorded_at``), exactly as the scoring
path would have seen it live. Using the event time instead would leak the future into
training (a model would learn from days-in-milk values nobody knew yet).

``FarmRecords`` is the in-memory copy of the herd tables the features and labels need. It is
loaded from the herd DB (``load_herd_records``), stored by the ``animal_profiles`` asset as
Parquet, and read back for training, so both paths see the same records.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from smx_assets.domain.herd_db import Base
from smx_assets.domain.sql_tables import read_table
from smx_assets.domain.time_grid import utc_series

DAY_NS = 86_400 * 10**9


def _ts(values: pd.Series) -> pd.Series:
    """Naive-UTC (DB) or aware values to ``datetime64[ns, UTC]``; None -> NaT."""
    s = utc_series(values)
    return s.dt.as_unit("ns") if hasattr(s, "dt") else s


@dataclass
class FarmRecords:
    """The herd tables used by features and labels (``animal_id`` int64, timestamps UTC)."""

    animals: pd.DataFrame  # animal_id, farm_id, birth_date, bolus_type, bolus_inserted_at, exit_date
    farms: pd.DataFrame  # farm_id, default_housing
    sensors: pd.DataFrame  # sensor_id, farm_id, location
    lactations: pd.DataFrame  # animal_id, lactation_number, calving_at, recorded_at
    inseminations: pd.DataFrame  # animal_id, at, recorded_at, pregnancy_check_at, pregnant
    treatments: pd.DataFrame  # animal_id, diagnosed_at, diagnosis, recorded_at
    housing: pd.DataFrame  # animal_id, kind, start, end
    heat_feedback: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"animal_id": pd.Series(dtype="int64"), "heat_at": pd.Series(dtype="datetime64[ns, UTC]"),
         "known_at": pd.Series(dtype="datetime64[ns, UTC]")}))  # confirmed heat alerts

    TABLES = ("animals", "farms", "sensors", "lactations", "inseminations", "treatments", "housing", "heat_feedback")

    def known_by(self, when: pd.Timestamp) -> FarmRecords:
        """The records as the farm software held them at ``when`` (later entries dropped, check results hidden)."""
        ins = self.inseminations[self.inseminations["recorded_at"] < when].copy()
        hidden = ~(ins["pregnancy_check_at"] < when)
        ins.loc[hidden, "pregnant"] = np.nan
        ins.loc[hidden, "pregnancy_check_at"] = pd.NaT
        return FarmRecords(
            animals=self.animals, farms=self.farms, sensors=self.sensors,
            lactations=self.lactations[self.lactations["recorded_at"] < when],
            inseminations=ins,
            treatments=self.treatments[self.treatments["recorded_at"] < when],
            housing=self.housing[self.housing["start"] < when],
            heat_feedback=self.heat_feedback[self.heat_feedback["known_at"] < when],
        )

    def tables(self) -> dict[str, pd.DataFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    PER_ANIMAL = ("animals", "lactations", "inseminations", "treatments", "housing", "heat_feedback")

    def of_animals(self, ids: np.ndarray | list[int]) -> FarmRecords:
        """The records of the animals ``ids`` and the climate sensors of their farms (the farms'
        table whole): what their feature rows read, in the order the herd's tables hold them
        (``self`` when that is every animal).

        The rows are found through an index of each table by animal, built once per set of
        tables and kept on the object: ``POST /v1/score`` asks for one cow of a cached herd on
        every request, and a scan of each table was the one cost there growing with the herd."""
        index = self._animal_index()
        wanted = np.unique(np.asarray(ids, dtype="int64"))
        rows = {name: index[name].positions(wanted) for name in self.PER_ANIMAL}
        if len(rows["animals"]) == len(self.animals):
            return self
        picked = {name: getattr(self, name).iloc[pos] for name, pos in rows.items()}
        animals = picked.pop("animals")
        return FarmRecords(animals=animals, farms=self.farms,
                           sensors=self.sensors[self.sensors["farm_id"].isin(animals["farm_id"].unique())], **picked)

    def __getstate__(self) -> dict:
        """Pickled without the index (rebuilt on use; it would double the pickle)."""
        return {k: v for k, v in self.__dict__.items() if k != "_by_animal"}

    def _animal_index(self) -> dict[str, _ByAnimal]:
        """The per-table index, rebuilt when a table was replaced since: the index holds the
        frames it was built from and is used only while they are the object's (identity, not
        id(): a freed frame's id can come back)."""
        frames = tuple(getattr(self, n) for n in self.PER_ANIMAL)
        held = self.__dict__.get("_by_animal")
        if held is None or any(a is not b or len(a) != n for a, (b, n) in zip(frames, held[0])):
            held = (tuple((f, len(f)) for f in frames),
                    {n: _ByAnimal(f["animal_id"].to_numpy(dtype="int64")) for n, f in zip(self.PER_ANIMAL, frames)})
            self.__dict__["_by_animal"] = held
        return held[1]


class _ByAnimal:
    """Row positions of one records table grouped by animal (stable: the table's order kept)."""

    FEW = 64  # up to this many animals, slices of the sorted ids; more, one isin over the table

    def __init__(self, animal_ids: np.ndarray) -> None:
        self.ids = animal_ids
        self.order = np.argsort(animal_ids, kind="stable")
        self.sorted_ids = animal_ids[self.order]

    def positions(self, wanted: np.ndarray) -> np.ndarray:
        """Positions of the rows of the (sorted, unique) ``wanted`` animals, ascending."""
        if len(wanted) > self.FEW:
            return np.flatnonzero(np.isin(self.ids, wanted))
        lo = np.searchsorted(self.sorted_ids, wanted, side="left")
        hi = np.searchsorted(self.sorted_ids, wanted, side="right")
        return np.sort(np.concatenate([self.order[a:b] for a, b in zip(lo, hi)] or [np.empty(0, "int64")]))


# the herd-DB columns records_from_tables uses (read by COPY on PostgreSQL: see domain/sql_tables.py)
_RECORD_COLUMNS: dict[str, list[str]] = {
    "farms": ["id", "default_housing"],
    "climate_sensors": ["id", "farm_id", "location"],
    "animals": ["id", "farm_id", "birth_date", "bolus_type", "bolus_inserted_at", "exit_date"],
    "housing_periods": ["animal_id", "kind", "start", "end"],
    "lactations": ["animal_id", "lactation_number", "calving_at", "recorded_at"],
    "inseminations": ["animal_id", "at", "recorded_at", "pregnancy_check_at", "pregnant"],
    "treatments": ["animal_id", "diagnosed_at", "diagnosis", "recorded_at"],
}


def load_herd_records(engine) -> FarmRecords:  # type: ignore[no-untyped-def]
    """Read the herd tables (small: a few rows per animal-year) into a ``FarmRecords``."""
    meta = Base.metadata.tables
    tables = {name: read_table(engine, meta[name], columns) for name, columns in _RECORD_COLUMNS.items()}
    fb = pd.read_sql_query("SELECT a.animal_id, a.bucket_start AS heat_at, f.given_at AS known_at FROM feedback f "
                           "JOIN alerts a ON a.id = f.alert_id WHERE a.use_case = 'heat' AND f.verdict = 'confirmed'", engine)
    return records_from_tables(tables, heat_feedback=fb)


def records_from_tables(tables: dict[str, pd.DataFrame], heat_feedback: pd.DataFrame | None = None) -> FarmRecords:
    """Herd tables with the herd-DB column names (as SQL returns them, or the simulator's frames)."""
    t = tables
    rec = FarmRecords(
        animals=t["animals"].rename(columns={"id": "animal_id"})[
            ["animal_id", "farm_id", "birth_date", "bolus_type", "bolus_inserted_at", "exit_date"]],
        farms=t["farms"].rename(columns={"id": "farm_id"})[["farm_id", "default_housing"]],
        sensors=t["climate_sensors"].rename(columns={"id": "sensor_id"})[["sensor_id", "farm_id", "location"]],
        lactations=t["lactations"][["animal_id", "lactation_number", "calving_at", "recorded_at"]],
        inseminations=t["inseminations"][["animal_id", "at", "recorded_at", "pregnancy_check_at", "pregnant"]],
        treatments=t["treatments"][["animal_id", "diagnosed_at", "diagnosis", "recorded_at"]],
        housing=t["housing_periods"][["animal_id", "kind", "start", "end"]],
    )
    if heat_feedback is not None:
        rec.heat_feedback = heat_feedback[["animal_id", "heat_at", "known_at"]]
    return normalise_records(rec)


def normalise_records(r: FarmRecords) -> FarmRecords:
    """Fix dtypes (int64 ids, aware UTC timestamps, float 1/0/NaN pregnancy) after SQL or Parquet."""
    ts_cols = {
        "animals": ["birth_date", "bolus_inserted_at", "exit_date"],
        "lactations": ["calving_at", "recorded_at"],
        "inseminations": ["at", "recorded_at", "pregnancy_check_at"],
        "treatments": ["diagnosed_at", "recorded_at"],
        "housing": ["start", "end"],
        "heat_feedback": ["heat_at", "known_at"],
    }
    out = {}
    for name in FarmRecords.TABLES:
        df = getattr(r, name).copy()
        for c in ts_cols.get(name, []):
            df[c] = _ts(df[c]) if len(df) else pd.Series(dtype="datetime64[ns, UTC]")
        for c in ("animal_id", "farm_id", "sensor_id", "lactation_number"):
            if c in df.columns:
                df[c] = df[c].astype("int64")
        if name == "inseminations":
            df["pregnant"] = df["pregnant"].map(lambda v: np.nan if v is None or pd.isna(v) else float(bool(v))).astype("float64")
        out[name] = df.reset_index(drop=True)
    return FarmRecords(**out)


PROFILE_COLUMNS = [
    "farm_id", "age_days", "lactation_number", "days_in_milk", "days_since_insemination",
    "days_since_heat", "pregnant", "days_pregnant", "on_pasture", "bolus_settling", "has_ph_sensor",
    "calving_unknown", "insemination_unknown", "heat_unknown",
]


def _asof(rows: pd.DataFrame, events: pd.DataFrame, on: str, cols: list[str]) -> pd.DataFrame:
    """Per row, ``cols`` of the animal's latest event with ``events[on] < rows.t`` (NaN if none).

    Among events at the same instant the last in ``events``' order counts (what a stable sort
    and ``merge_asof`` picked before). Done with two searchsorted on dense (animal, time) keys
    instead of ``merge_asof``: the same rows, without pandas' fixed cost a call, which was a
    third of one cow's feature vector (``POST /v1/score``)."""
    if events.empty:  # keep the events' dtypes (NaT for timestamps) so callers compare cleanly
        return pd.DataFrame({c: pd.Series(index=rows.index, dtype=events[c].dtype if c in events else "float64")
                             for c in cols}, index=rows.index)
    known = np.flatnonzero(events[on].notna().to_numpy())  # events without an instant never count
    ev_a, ev_t = events["animal_id"].to_numpy(dtype="int64")[known], _ns(events[on].iloc[known])
    row_a, row_t = rows["animal_id"].to_numpy(dtype="int64"), _ns(rows["t"])
    animals, times = np.unique(np.concatenate([ev_a, row_a])), np.unique(np.concatenate([ev_t, row_t]))
    width = len(times) + 1
    ev_key = np.searchsorted(animals, ev_a) * width + np.searchsorted(times, ev_t)
    row_key = np.searchsorted(animals, row_a) * width + np.searchsorted(times, row_t)
    order = np.argsort(ev_key, kind="stable")  # ties keep the events' order
    at = np.searchsorted(ev_key[order], row_key, side="left") - 1  # the last key below the row's
    hit = at >= 0
    hit[hit] = ev_a[order[at[hit]]] == row_a[hit]  # ... and of the row's own animal
    take = np.where(hit, known[order[np.maximum(at, 0)]], -1) if len(known) else np.full(len(rows), -1)
    out = {c: events[c].reset_index(drop=True).reindex(take).set_axis(rows.index) for c in cols}
    return pd.DataFrame(out, index=rows.index)


def _later(frame: pd.DataFrame, a: str, b: str) -> pd.Series:
    """The later of two aware timestamp columns per row, NaT only where both are (what
    ``frame[[a, b]].max(axis=1)`` gives, without its per-call cost)."""
    if frame.empty:
        return frame[[a, b]].max(axis=1)
    x, y = pd.DatetimeIndex(frame[a]), pd.DatetimeIndex(frame[b])
    if x.tz is None or y.tz is None or x.unit != y.unit:
        return frame[[a, b]].max(axis=1)
    later = np.maximum(x.asi8, y.asi8)  # NaT is int64's minimum: the other value wins
    return pd.Series(pd.DatetimeIndex(later.view(f"datetime64[{x.unit}]")).tz_localize("UTC").tz_convert(x.tz),
                     index=frame.index)


def _ns(values: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch of aware or naive timestamps (no NaT: callers drop them)."""
    return pd.DatetimeIndex(values).as_unit("ns").asi8


def _days(later_ns: np.ndarray, earlier: pd.Series) -> np.ndarray:
    """(later - earlier) in fractional days, NaN where ``earlier`` is missing.

    ``later_ns``: the later instants as epoch nanoseconds in float64 (computed once by
    :func:`profile_features` for its seven differences)."""
    a = later_ns
    if isinstance(earlier, pd.Series) and pd.api.types.is_datetime64_any_dtype(earlier.dtype):
        # the epoch nanoseconds utc_series(earlier).dt.tz_convert(None) holds, without the two copies
        ns = pd.DatetimeIndex(earlier).as_unit("ns").asi8
        missing = ns == np.iinfo("int64").min
    else:
        e = utc_series(earlier)
        b = e.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
        ns, missing = b.astype("int64"), np.isnat(b)
    out = (a - ns.astype("float64")) / DAY_NS
    out[missing] = np.nan
    return out


def profile_features(records: FarmRecords, rows: pd.DataFrame) -> pd.DataFrame:
    """Profile features for ``rows`` (``animal_id``, ``t`` = the bucket's end, the as-of instant).

    Returns a frame aligned with ``rows``; see ``PROFILE_COLUMNS``. The columns are gathered as
    arrays and framed once: a call for one cow (``POST /v1/score``) is mostly pandas' fixed cost
    a call, so every operation saved counts there.
    """
    rows = rows[["animal_id", "t"]]
    t = rows["t"]
    t_ns = t.to_numpy(dtype="datetime64[ns]") if t.dt.tz is None else \
        t.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    t_f = t_ns.astype("int64").astype("float64")
    animals = records.animals.set_index("animal_id")
    out: dict[str, np.ndarray] = {}
    a = animals.reindex(rows["animal_id"].to_numpy())
    out["farm_id"] = a["farm_id"].to_numpy(dtype="float64")
    out["age_days"] = _days(t_f, a["birth_date"])
    out["has_ph_sensor"] = a["bolus_type"].fillna("").str.contains("ph").to_numpy().astype("float64")
    since_insert = _days(t_f, a["bolus_inserted_at"])
    with np.errstate(invalid="ignore"):
        out["bolus_settling"] = (since_insert < 1.0).astype("float64")

    lact = records.lactations.assign(known_at=_later(records.lactations, "calving_at", "recorded_at"))
    last_calv = _asof(rows, lact, "known_at", ["lactation_number", "calving_at"])
    out["lactation_number"] = last_calv["lactation_number"].astype("float64").to_numpy()
    out["days_in_milk"] = _days(t_f, last_calv["calving_at"])
    out["calving_unknown"] = last_calv["calving_at"].isna().to_numpy().astype("float64")

    ins = records.inseminations.assign(known_at=_later(records.inseminations, "at", "recorded_at"))
    last_ins = _asof(rows, ins, "known_at", ["at"])
    out["days_since_insemination"] = _days(t_f, last_ins["at"])
    out["insemination_unknown"] = last_ins["at"].isna().to_numpy().astype("float64")

    # Recorded heats: every insemination (the farmer saw a heat) and every confirmed heat alert.
    heats = pd.concat([
        ins[["animal_id", "at", "known_at"]].rename(columns={"at": "heat_at"}),
        records.heat_feedback[["animal_id", "heat_at", "known_at"]],
    ], ignore_index=True).sort_values(["animal_id", "known_at"], kind="stable")
    if not heats.empty:  # the latest heat among those known, whatever order they were entered in
        heats["heat_at"] = heats.groupby("animal_id")["heat_at"].cummax()
    last_heat = _asof(rows, heats, "known_at", ["heat_at"])
    out["days_since_heat"] = _days(t_f, last_heat["heat_at"])
    out["heat_unknown"] = last_heat["heat_at"].isna().to_numpy().astype("float64")

    # Pregnancy as known from checks: the latest positive check known by then, unless a calving
    # after that insemination is known too.
    positive = ins[ins["pregnant"] == 1.0]
    checks = positive.assign(check_known=_later(positive, "pregnancy_check_at", "recorded_at"))
    conc = _asof(rows, checks, "check_known", ["at"])["at"]
    conc_days = _days(t_f, conc)
    calv_days = out["days_in_milk"]
    pregnant = ~np.isnan(conc_days) & (np.isnan(calv_days) | (conc_days < calv_days))
    out["pregnant"] = pregnant.astype("float64")
    out["days_pregnant"] = np.where(pregnant, conc_days, np.nan)

    # Housing: the period containing t, else the farm's default.
    hous = records.housing.assign(pasture=lambda d: (d["kind"] == "pasture").astype("float64"))
    cur = _asof(rows, hous, "start", ["pasture", "end"])
    in_period = cur["pasture"].notna() & (cur["end"].isna() | (cur["end"] > t))
    farms = records.farms.set_index("farm_id")["default_housing"]
    default = (a["farm_id"].map(farms) == "pasture").to_numpy().astype("float64")
    out["on_pasture"] = np.where(in_period.to_numpy(), cur["pasture"].to_numpy(dtype="float64"), default)
    return pd.DataFrame({c: out[c] for c in PROFILE_COLUMNS}, index=rows.index)


def active_animals(records: FarmRecords, t_start: pd.Timestamp, t_end: pd.Timestamp) -> np.ndarray:
    """Animals with a bolus inserted before ``t_end`` and no exit before ``t_start`` (sorted ids)."""
    a = records.animals
    ok = a["bolus_inserted_at"].notna() & (a["bolus_inserted_at"] < t_end)
    ok &= a["exit_date"].isna() | (a["exit_date"] > t_start)
    return np.sort(a.loc[ok, "animal_id"].to_numpy(dtype="int64"))

