"""Run labels stored on scoring lineage rows and alerts fit the herd DB's ``partition_key`` column."""

from __future__ import annotations

import pandas as pd
import pytest

from smx_assets.domain.herd_db import Alert, ScoringLineage
from smx_assets.domain.time_grid import BUCKET, PARTITION_LABEL_MAX, partition_key, range_label


@pytest.mark.parametrize(("first", "last", "label"), [
    ("2026-12-01-00:00", "2026-12-01-00:00", "2026-12-01-00:00"),
    ("2026-12-01-00:00", "2026-12-01-23:50", "2026-12-01-00:00..23:50"),
    ("2026-12-01-00:00", "2026-12-03-23:50", "2026-12-01-00:00..12-03-23:50"),
    ("2026-12-31-00:00", "2027-01-01-23:50", "2026-12-31-00:00..01-01-23:50"),
])
def test_range_label(first: str, last: str, label: str) -> None:
    assert range_label(first, last) == label
    assert len(label) <= PARTITION_LABEL_MAX and (".." in label) == (first != last)


def test_every_label_fits_the_column() -> None:
    for table in (ScoringLineage.__table__, Alert.__table__):
        assert table.c.partition_key.type.length == PARTITION_LABEL_MAX
    first = pd.Timestamp("2026-12-31 00:00", tz="UTC")
    for n in (1, 2, 144, 145, 144 * 90):
        assert len(range_label(partition_key(first), partition_key(first + (n - 1) * BUCKET))) <= PARTITION_LABEL_MAX


def test_utc_series_equals_to_datetime_utc_on_every_kind_of_input() -> None:
    """The fast path (datetime series: localise or convert) gives what ``to_datetime(utc=True)``
    gives, units and NaT included; other input goes through ``to_datetime``."""
    from smx_assets.domain.time_grid import utc_series

    naive = pd.Series(pd.to_datetime(["2026-03-29 00:50", None, "2026-10-25 01:10"])).astype("datetime64[us]")
    berlin = naive.dt.tz_localize("Europe/Berlin", ambiguous="NaT", nonexistent="NaT")
    objects = pd.Series([pd.Timestamp("2026-01-01 12:00", tz="UTC"), None, "2026-01-02"], dtype=object)
    for values in (naive, berlin, berlin.dt.tz_convert("UTC"), objects):
        got, want = utc_series(values), pd.to_datetime(values, utc=True)
        pd.testing.assert_series_equal(got, want)
        assert str(got.dtype).endswith(", UTC]")
    assert utc_series(naive).iloc[0] == pd.Timestamp("2026-03-29 00:50", tz="UTC")
