"""Herd records read from an export's herd columns: lactations, inseminations, status.

* A lactation (calving) per cow and lactation number: the calving day is the row's local date
  minus its days in lactation (exports know it only to the day); the most frequent value over
  the cow's rows wins (a row exported just before midnight may be a day off). Heifers have no
  days in lactation and get none.
* An insemination per distinct effective breeding date.
* The status is the cow's latest one in the file.

``recorded_at`` is the time of the first row that shows the record: a model evaluated "as of"
an earlier time must not see it (delayed-label rule of the herd DB).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass
class HerdRecords:
    lactations: pd.DataFrame  # cow_number, lactation_number (int), calving_at (UTC), recorded_at (UTC)
    inseminations: pd.DataFrame  # cow_number, at (UTC), recorded_at (UTC)
    status: dict[str, str]  # cow_number -> latest status


def herd_records(rows: pd.DataFrame, timezone: str) -> HerdRecords:
    """Derive herd records from classified rows (``rows`` with cow_number and ts present)."""
    usable = rows[rows["cow_number"].notna() & rows["ts"].notna()]
    lact = usable[usable["days_in_lactation"].notna() & (usable["lactation_number"] >= 1)]
    if len(lact):
        local_day = lact["ts"].dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
        calving_local = local_day - pd.to_timedelta(lact["days_in_lactation"].round(), unit="D")
        calving = calving_local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward")
        frame = pd.DataFrame({
            "cow_number": lact["cow_number"].to_numpy(),
            "lactation_number": lact["lactation_number"].astype("int64").to_numpy(),
            "calving_at": calving.dt.tz_convert("UTC").to_numpy(),
            "ts": lact["ts"].to_numpy(),
        }).dropna(subset=["calving_at"])
        grouped = frame.groupby(["cow_number", "lactation_number"], sort=True)
        lactations = grouped.agg(calving_at=("calving_at", lambda s: s.mode().iloc[0]),
                                 recorded_at=("ts", "min")).reset_index()
        lactations["calving_at"] = pd.to_datetime(lactations["calving_at"], utc=True)
        lactations["recorded_at"] = pd.to_datetime(lactations["recorded_at"], utc=True)
        lactations["recorded_at"] = lactations[["recorded_at", "calving_at"]].max(axis=1)
    else:
        lactations = pd.DataFrame(columns=["cow_number", "lactation_number", "calving_at", "recorded_at"])
    bred = usable[usable["breeding_date"].notna()]
    if len(bred):
        inseminations = (bred.groupby(["cow_number", "breeding_date"], sort=True)["ts"].min()
                         .reset_index().rename(columns={"breeding_date": "at", "ts": "recorded_at"}))
    else:
        inseminations = pd.DataFrame(columns=["cow_number", "at", "recorded_at"])
    with_status = usable[usable["status"].notna()].sort_values("ts")
    status = with_status.groupby("cow_number")["status"].last().to_dict()
    return HerdRecords(lactations=lactations, inseminations=inseminations, status=status)
