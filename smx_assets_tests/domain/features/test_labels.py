import numpy as np
import pandas as pd

from smx_assets.domain.features.labels import attach_labels

from .helpers import DAY0, records

H = pd.Timedelta(hours=1)
D = pd.Timedelta(days=1)


def _frame(start: pd.Timestamp, end: pd.Timestamp, animals=(1,)) -> pd.DataFrame:
    b = pd.date_range(start, end, freq="10min", inclusive="left")
    return pd.DataFrame({"animal_id": np.repeat(np.array(animals, dtype="int64"), len(b)),
                         "bucket_start": np.tile(b, len(animals))})


def _at(f: pd.DataFrame, ts: pd.Timestamp, col: str, animal: int = 1) -> float:
    return f.loc[(f["animal_id"] == animal) & (f["bucket_start"] == ts), col].iloc[0]


def test_calving_within_next_12h() -> None:
    c = DAY0 + 5 * D + 14 * H + pd.Timedelta(minutes=5)
    rec = records([1, 2], lactations=pd.DataFrame({"animal_id": [1], "lactation_number": [2], "calving_at": [c],
                                                   "recorded_at": [c + 2 * D]}))
    f = attach_labels(_frame(DAY0 + 4 * D, DAY0 + 7 * D, (1, 2)), rec)
    assert _at(f, c.floor("10min"), "label_calving") == 1  # the calving's own bucket
    assert _at(f, c.floor("10min") - 12 * H + pd.Timedelta(minutes=10), "label_calving") == 1
    assert _at(f, c.floor("10min") - 12 * H, "label_calving") == 0  # calving 12 h 5 min later
    assert _at(f, c.floor("10min") + pd.Timedelta(minutes=10), "label_calving") == 0
    assert f.loc[f["animal_id"] == 2, "label_calving"].eq(0).all()
    assert f["label_calving"].sum() == 72


def test_fever_from_diagnosis_with_uncertain_margins_and_no_milk_fever() -> None:
    d = DAY0 + 10 * D
    trt = pd.DataFrame({"animal_id": [1, 2], "diagnosed_at": [d, d], "diagnosis": ["mastitis", "milk_fever"],
                        "recorded_at": [d + 6 * H, d + 6 * H]})
    f = attach_labels(_frame(DAY0 + 4 * D, DAY0 + 16 * D, (1, 2)), records([1, 2], treatments=trt))
    assert _at(f, d - 47 * H, "label_fever") == 1 and _at(f, d + 23 * H, "label_fever") == 1
    assert np.isnan(_at(f, d - 50 * H, "label_fever")) and np.isnan(_at(f, d + 30 * H, "label_fever"))
    assert _at(f, d - 97 * H, "label_fever") == 0 and _at(f, d + 97 * H, "label_fever") == 0
    assert f.loc[f["animal_id"] == 2, "label_fever"].eq(0).all()  # milk fever lowers temperature


def test_heat_from_inseminations_and_unrecorded_cycles() -> None:
    calving = DAY0
    i1 = DAY0 + 70 * D  # first insemination, refuted by the check
    i2 = i1 + 21 * D  # the return heat was seen and inseminated: conception
    lact = pd.DataFrame({"animal_id": [1], "lactation_number": [1], "calving_at": [calving], "recorded_at": [calving]})
    ins = pd.DataFrame({"animal_id": [1, 1], "at": [i1, i2], "recorded_at": [i1, i2],
                        "pregnancy_check_at": [pd.NaT, i2 + 40 * D], "pregnant": [0.0, 1.0]})
    f = attach_labels(_frame(DAY0, DAY0 + 140 * D), records([1], lactations=lact, inseminations=ins))
    assert _at(f, i1 - 12 * H, "label_heat") == 1 and _at(f, i1 + 5 * H, "label_heat") == 1
    assert _at(f, i1 - 19 * H, "label_heat") == 0 and _at(f, i1 + 7 * H, "label_heat") == 0
    assert _at(f, i2 - 1 * H, "label_heat") == 1
    # heats before the first insemination happened (voluntary waiting period) but were not
    # recorded: 21 and 42 days earlier are unknown, not negatives
    assert np.isnan(_at(f, i1 - 21 * D, "label_heat")) and np.isnan(_at(f, i1 - 42 * D + 2 * D, "label_heat"))
    assert _at(f, i1 - 63 * D, "label_heat") == 0  # 7 d after calving: no heat expected yet
    assert _at(f, calving + 5 * D, "label_heat") == 0  # too soon after calving for a heat
    # after conception heats are suppressed: confident negatives
    assert _at(f, i2 + 21 * D, "label_heat") == 0 and _at(f, i2 + 42 * D, "label_heat") == 0


def test_unconfirmed_insemination_expects_a_return_heat() -> None:
    i1 = DAY0 + 70 * D
    lact = pd.DataFrame({"animal_id": [1], "lactation_number": [1], "calving_at": [DAY0], "recorded_at": [DAY0]})
    ins = pd.DataFrame({"animal_id": [1], "at": [i1], "recorded_at": [i1], "pregnancy_check_at": [i1 + 40 * D],
                        "pregnant": [0.0]})
    f = attach_labels(_frame(i1 - D, i1 + 50 * D), records([1], lactations=lact, inseminations=ins))
    assert np.isnan(_at(f, i1 + 21 * D, "label_heat")) and np.isnan(_at(f, i1 + 42 * D, "label_heat"))
    assert _at(f, i1 + 10 * D, "label_heat") == 0
