"""The heat detector on real collar exports: it never reads the answer key, and it finds heats.

``Activity Change`` (the vendor's heat index) is the reference the real-data figures are
measured against, so a detector that read it would be graded on its own answers. Importing the
same exports with that column emptied must give exactly the same alerts.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from smx_assets.domain.features.profile import load_herd_records
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.importers import import_paths
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sql_engine import make_engine
from smx_assets.domain.use_cases.catalog import use_case
from smx_assets.domain.use_cases.reference_eval import agreement, detect_heats, reference_episodes, wilson
from smx_assets_tests.realdata import bovheat_dir

FILES = ("February 4 2019.xlsx", "February 11 2019.xlsx")  # tuning weeks only
START, END = pd.Timestamp("2019-02-04", tz="UTC"), pd.Timestamp("2019-02-11", tz="UTC")


def _alerts(work: Path) -> pd.DataFrame:
    upgrade_herd_db(f"sqlite:///{work / 'herd.db'}")
    engine = make_engine(f"sqlite:///{work / 'herd.db'}")
    store = open_sensor_store(f"sqlite:///{work / 'sensors.db'}")
    store.ensure_schema()
    try:
        import_paths([bovheat_dir() / "weekly" / f for f in FILES], farm="bovheat", store=store, engine=engine)
        alerts = detect_heats(store, load_herd_records(engine), use_case("heat"), START, END)
        with engine.connect() as conn:
            numbers = pd.read_sql("SELECT id AS animal_id, cow_number FROM animals", conn)
    finally:
        store.close()
        engine.dispose()
    return alerts.merge(numbers, on="animal_id").rename(columns={"bucket_start": "alert_time"})


@pytest.fixture(scope="module")
def alerts_both(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    normal = _alerts(tmp_path_factory.mktemp("with_key"))
    real_read_excel = pd.read_excel
    emptied: list[int] = []

    def without_key(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = real_read_excel(*args, **kwargs)
        for frame in out.values() if isinstance(out, dict) else [out]:
            if "Activity Change" in frame.columns:
                emptied.append(int(frame["Activity Change"].notna().sum()))
                frame["Activity Change"] = float("nan")
        return out

    mp = pytest.MonkeyPatch()
    mp.setattr(pd, "read_excel", without_key)
    try:
        blind = _alerts(tmp_path_factory.mktemp("without_key"))
    finally:
        mp.undo()
    assert len(emptied) == len(FILES) and min(emptied) > 6000  # the column really was there, and emptied
    return normal, blind


def test_heat_alerts_are_identical_with_activity_change_emptied(alerts_both) -> None:  # type: ignore[no-untyped-def]
    normal, blind = alerts_both
    assert len(normal) > 10
    cols = ["cow_number", "alert_time", "score"]
    pd.testing.assert_frame_equal(normal[cols].reset_index(drop=True), blind[cols].reset_index(drop=True))


def test_heat_alerts_agree_with_the_reference_on_the_tuning_week(alerts_both) -> None:  # type: ignore[no-untyped-def]
    normal, _ = alerts_both
    episodes = reference_episodes([bovheat_dir() / "weekly" / f for f in FILES])
    a = agreement(normal, episodes, START, END, cow_days=84 * 7)
    # week 2 (Feb 4-11), part of the tuning data: 23 of 24 episodes, 22 of 26 alerts when written
    assert a.episodes >= 20 and a.sensitivity >= 0.8 and a.precision >= 0.75
    lo, hi = wilson(a.detected, a.episodes)
    assert 0 < lo < a.sensitivity <= hi <= 1
