"""Small synthetic frames and herd records for feature unit tests, plus loaders for real stores."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from smx_assets.domain.features.profile import FarmRecords, normalise_records

DAY0 = pd.Timestamp("2024-06-01", tz="UTC")
B = pd.Timedelta(minutes=10)


def bolus(animal_ids: list[int], start: pd.Timestamp, end: pd.Timestamp, temp: float = 39.0,
          activity: float = 10.0, offset_s: int = 90, seed: int = 0, ph: float | None = None) -> pd.DataFrame:
    """One reading per animal every 10 minutes at ``offset_s`` into each bucket, small noise."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, end, freq=B, inclusive="left") + pd.Timedelta(seconds=offset_s)
    parts = []
    for a in animal_ids:
        parts.append(pd.DataFrame({
            "animal_id": np.int64(a), "ts": ts,
            "temp_c": temp + rng.normal(0, 0.02, len(ts)),
            "activity": activity + rng.normal(0, 0.5, len(ts)),
            "ph": np.nan if ph is None else ph,
        }))
    out = pd.concat(parts, ignore_index=True)
    out["ts"] = out["ts"].dt.as_unit("ns")
    return out


def climate(sensor_ids: list[int], start: pd.Timestamp, end: pd.Timestamp, air: float = 20.0,
            rh: float = 60.0) -> pd.DataFrame:
    ts = pd.date_range(start, end, freq=B, inclusive="left") + pd.Timedelta(seconds=30)
    return pd.concat([pd.DataFrame({"sensor_id": np.int64(s), "ts": ts, "air_temp_c": air, "rh_pct": rh})
                      for s in sensor_ids], ignore_index=True)


def records(animal_ids: list[int], farm_id: int = 1, inserted: pd.Timestamp = DAY0 - pd.Timedelta(days=60),  # noqa: B008 (immutable)
            **tables: pd.DataFrame) -> FarmRecords:
    """Records for animals on one farm with one barn sensor (id 1); extra tables by keyword."""
    def ts(*cols: str) -> dict[str, pd.Series]:
        return {c: pd.Series(dtype="datetime64[ns, UTC]") for c in cols}

    base: dict[str, Any] = {
        "animals": pd.DataFrame({"animal_id": animal_ids, "farm_id": farm_id,
                                 "birth_date": DAY0 - pd.Timedelta(days=1000), "bolus_type": "temp_activity",
                                 "bolus_inserted_at": inserted, "exit_date": pd.NaT}),
        "farms": pd.DataFrame({"farm_id": [farm_id], "default_housing": ["barn"]}),
        "sensors": pd.DataFrame({"sensor_id": [1], "farm_id": [farm_id], "location": ["barn"]}),
        "lactations": pd.DataFrame({"animal_id": pd.Series(dtype="int64"), "lactation_number": pd.Series(dtype="int64"),
                                    **ts("calving_at", "recorded_at")}),
        "inseminations": pd.DataFrame({"animal_id": pd.Series(dtype="int64"), **ts("at", "recorded_at", "pregnancy_check_at"),
                                       "pregnant": pd.Series(dtype="float64")}),
        "treatments": pd.DataFrame({"animal_id": pd.Series(dtype="int64"), **ts("diagnosed_at"),
                                    "diagnosis": pd.Series(dtype="object"), **ts("recorded_at")}),
        "housing": pd.DataFrame({"animal_id": pd.Series(dtype="int64"), "kind": pd.Series(dtype="object"),
                                 **ts("start", "end")}),
    }
    base.update(tables)
    return normalise_records(FarmRecords(**base))


def load_herd_db(engine: sa.Engine, tables: dict[str, pd.DataFrame]) -> None:
    """Write simulator tables (herd-DB column names) into a migrated herd DB, naive UTC timestamps."""
    order = ["farms", "climate_sensors", "animals", "housing_periods", "lactations", "inseminations", "treatments"]
    with engine.begin() as conn:
        for name in order:
            df = tables[name].copy()
            for c in df.columns:
                if isinstance(df[c].dtype, pd.DatetimeTZDtype):
                    df[c] = df[c].dt.tz_convert("UTC").dt.tz_localize(None)
            if name == "farms" and "climate_profile" in df.columns:
                df = df.drop(columns=["climate_profile"])
            df.to_sql(name, conn, if_exists="append", index=False)
