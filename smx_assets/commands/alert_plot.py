"""``smx explain ALERT_ID --plot FILE.png``: one picture of an alert for a person at the farm.

Three panels over the days around the alert: the cow's temperature and activity (10-minute
means of its bolus readings), the model's score for that use case with the alert threshold, and
the farm's records as vertical lines (calvings, inseminations, treatments) plus the alert
itself and the cow's other alerts. Why a picture: a score above a threshold says little until
one sees the temperature rise or the activity peak behind it, and the insemination that
followed (or did not).

Drawn with matplotlib's object API (``Figure``, no pyplot and no global backend), so it works
headless and never opens a window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from smx_assets.domain.monitoring.alert_lookup import farm_records
from smx_assets.settings import Settings

BEFORE = pd.Timedelta(days=3)
AFTER = pd.Timedelta(days=1)
SIZE_INCHES = (11.0, 8.0)
DPI = 100  # 1100 x 800 pixels


@dataclass(frozen=True)
class PlotSummary:
    path: Path
    readings: int
    scores: int
    records: int
    width_px: int
    height_px: int
    title: str = ""  # the figure's title, as drawn (names the farm and the cow)


def _utc(values: pd.Series) -> pd.Series:
    out = pd.to_datetime(values)
    return out.dt.tz_localize("UTC") if out.dt.tz is None else out.dt.tz_convert("UTC")


def _cow_of_farm(engine: sa.Engine, animal_id: int) -> str | None:
    """``cow <farm's number or ear tag> of farm <name>``, or None for an animal not on record."""
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT COALESCE(a.cow_number, a.ear_tag) AS cow, f.name AS farm FROM animals a "
            "JOIN farms f ON f.id = a.farm_id WHERE a.id = :id"), {"id": animal_id}).first()
    return f"cow {row.cow} of farm {row.farm}" if row is not None else None


def plot_alert(alert: dict, settings: Settings, path: str | Path, cow: str | None = None) -> PlotSummary:
    """Draw the alert (a row of ``alerts`` as :func:`explain` returns it) to ``path`` (PNG);
    ``cow`` is the farm's own name for the animal ("cow 112 of farm A"); looked up when not given."""
    from matplotlib.figure import Figure

    from smx_assets.domain.score_store import ScoreFiles, ScoreStore
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.domain.sql_engine import make_engine

    bucket = pd.Timestamp(alert["bucket_start"])
    bucket = bucket.tz_localize("UTC") if bucket.tzinfo is None else bucket.tz_convert("UTC")
    lo, hi = bucket - BEFORE, bucket + AFTER
    animal_id, use_case = int(alert["animal_id"]), alert["use_case"]
    store = open_sensor_store(settings.sensor_store_url, connect_timeout_s=settings.database.connect_timeout_s)
    try:
        readings = store.read_bolus(lo, hi, [animal_id])
    finally:
        store.close()
    engine = make_engine(settings.herd_db_url, connect_timeout_s=settings.database.connect_timeout_s)
    try:
        with engine.connect() as conn:
            others = pd.DataFrame(conn.execute(sa.text(
                "SELECT bucket_start, use_case FROM alerts WHERE animal_id = :a AND id != :id "
                "AND bucket_start >= :lo AND bucket_start < :hi"),
                {"a": animal_id, "id": int(alert["id"]), "lo": lo.tz_localize(None).to_pydatetime(),
                 "hi": hi.tz_localize(None).to_pydatetime()}).all(), columns=["bucket_start", "use_case"])
        records = farm_records(engine, animal_id, lo, hi)
        if cow is None:  # a cow number is unique per farm only: the title names both
            cow = _cow_of_farm(engine, animal_id)
        scores = ScoreStore(engine, ScoreFiles(settings.features_path)).read(
            lo, hi, use_case=use_case, shadow=False, animal_ids=[animal_id], lineage=())[["bucket_start", "score"]]
    finally:
        engine.dispose()

    fig = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    ax_t, ax_a, ax_s = fig.subplots(3, 1, sharex=True)
    if len(readings):
        r = readings.assign(ts=_utc(readings["ts"])).set_index("ts").sort_index()
        per_bucket = r[["temp_c", "activity"]].resample("10min").mean()
        ax_t.plot(per_bucket.index, per_bucket["temp_c"], color="tab:red", lw=0.9)
        ax_a.plot(per_bucket.index, per_bucket["activity"], color="tab:blue", lw=0.9)
    else:
        for ax in (ax_t, ax_a):
            ax.text(0.5, 0.5, "no bolus readings in this window", transform=ax.transAxes, ha="center")
    ax_t.set_ylabel("temperature (°C)")
    ax_a.set_ylabel("activity")
    if len(scores):
        ax_s.plot(_utc(scores["bucket_start"]), scores["score"], color="black", lw=0.9,
                  label=f"{alert['model_name']} v{alert['model_version']} score")
    else:
        ax_s.text(0.5, 0.5, "no stored scores in this window", transform=ax_s.transAxes, ha="center")
    ax_s.axhline(float(alert["threshold"]), color="tab:orange", ls="--", label=f"threshold {alert['threshold']:.3f}")
    ax_s.set_ylabel(f"{use_case} score")
    ax_s.set_ylim(-0.02, 1.02)
    for ax in (ax_t, ax_a, ax_s):
        ax.axvline(bucket, color="tab:purple", lw=2, alpha=0.7)
        for t, _label in records:
            ax.axvline(t, color="tab:green", ls=":", lw=1.5)
        for t in _utc(others["bucket_start"]) if len(others) else []:
            ax.axvline(t, color="grey", ls="-.", lw=0.8)
        ax.grid(alpha=0.3)
    ax_s.plot([bucket], [float(alert["score"])], "o", color="tab:purple", label=f"alert {alert['id']}")
    for t, label in records:
        ax_t.annotate(label, (t, 1.0), xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right",
                      fontsize=8, color="tab:green")
    ax_s.legend(loc="upper left", fontsize=8)
    ax_s.set_xlim(lo, hi)
    ax_s.set_xlabel("UTC")
    note = "records: " + (", ".join(f"{label} {t:%m-%d %H:%M}" for t, label in records) if records else
                          "no calving, insemination or treatment recorded in this window")
    who = cow or f"animal {animal_id}"
    title = (f"alert {alert['id']}: {use_case}, {who}, bucket {bucket:%Y-%m-%d %H:%M} UTC, "
             f"score {float(alert['score']):.3f}\n{note}")
    fig.suptitle(title, fontsize=10)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    width, height = (int(round(v * DPI)) for v in SIZE_INCHES)
    return PlotSummary(out, len(readings), len(scores), len(records), width, height, title)


__all__ = ["PlotSummary", "plot_alert"]
