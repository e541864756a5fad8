"""The one JSON-cell conversion: what a rejected row or a stored feature vector can hold."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from smx_assets.domain.json_values import json_safe


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), (pd.NaT, None), (np.nan, None), (float("nan"), None),
    (np.float32(1.5), 1.5), (np.int64(7), 7), (np.bool_(True), True), (True, True),
    (float("inf"), "inf"), (np.float64("-inf"), "-inf"),
    (pd.Timestamp("2019-02-04 12:00", tz="UTC"), "2019-02-04T12:00:00+00:00"),
    (dt.date(2019, 2, 4), "2019-02-04"), (dt.time(12, 0), "12:00:00"),
    (np.datetime64("2019-02-04T12:00"), "2019-02-04T12:00:00"), (np.datetime64("NaT"), None),
    ("Kuh 17", "Kuh 17"),
])
def test_values_become_what_a_json_column_accepts(value: object, expected: object) -> None:
    out = json_safe(value)
    assert out == expected
    json.dumps(out, allow_nan=False)  # PostgreSQL refuses NaN and Infinity in json


def test_text_is_shortened_only_when_asked() -> None:
    assert json_safe("x" * 1000) == "x" * 1000
    assert json_safe("x" * 1000, max_text=200) == "x" * 200
    assert json_safe(["a", 1], max_text=3) == "['a"
