import numpy as np
import pandas as pd
import pytest

from smx_assets.domain.features.climate import bucket_thi, thi


@pytest.mark.parametrize(("t", "rh", "expected"), [
    (25.0, 50.0, 77.0 - (0.55 - 0.275) * (45.0 - 26.8)),
    (30.0, 80.0, 86.0 - (0.55 - 0.44) * (54.0 - 26.8)),
    (10.0, 100.0, 50.0),  # RH 100 %: THI equals the temperature in °F
])
def test_thi_formula(t: float, rh: float, expected: float) -> None:
    assert thi(t, rh) == pytest.approx(expected)
    assert thi(np.array([t]), np.array([rh]))[0] == pytest.approx(expected)


def test_bucket_thi_means_sensors_and_drops_bad_values() -> None:
    ts = pd.to_datetime(["2024-06-01 12:01", "2024-06-01 12:02", "2024-06-01 12:03"], utc=True)
    climate = pd.DataFrame({"sensor_id": [1, 2, 3], "ts": ts, "air_temp_c": [25.0, 25.0, 25.0],
                            "rh_pct": [50.0, 150.0, 50.0]})
    sensors = pd.DataFrame({"sensor_id": [1, 2, 3], "farm_id": [1, 1, 1], "location": ["barn", "barn", "pasture"]})
    out = bucket_thi(climate, sensors).set_index(["farm_id", "location"])
    # sensor 2's RH of 150 % is dropped (NaN THI), so the barn THI is sensor 1's alone
    assert out.loc[(1, "barn"), "thi"] == pytest.approx(thi(25.0, 50.0))
    assert out.loc[(1, "pasture"), "thi"] == pytest.approx(thi(25.0, 50.0))
