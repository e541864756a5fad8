"""``GET /v1/scores`` writes its document as text (speed): it must be the JSON that
``json.dumps`` of the same rows gives, escaping and float digits included."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from smx_assets.api.routes.scores import ScoreHistory, _history_json


def _frame() -> pd.DataFrame:
    buckets = pd.date_range("2026-10-01", periods=4, freq="10min", tz="UTC")
    return pd.DataFrame({
        "lineage_id": [7, 7, 9, 11], "animal_id": [1, 1, 1, 1], "bucket_start": buckets,
        "score": [0.1 + 0.2, 1 / 3, 5e-324, 0.0],
        "use_case": ["heat", "heat", "calving", "fever"],
        "model_name": ["smx-heat", "smx-heat", 'smx "calving"\\ä\u2028', None],
        "model_version": ["3", "3", "12", None]})


def test_text_is_the_json_dumps_document() -> None:
    frame = _frame()
    text = _history_json("Hof Müller", 'A"1', frame).decode()
    assert ", " not in text.replace('"Hof Müller"', "") and ": " not in text  # compact, like JSONResponse
    got = json.loads(text)
    want = {"farm": "Hof Müller", "cow_number": 'A"1', "scores": [
        {"use_case": u, "bucket_start": b.strftime("%Y-%m-%dT%H:%M:%SZ"), "score": s,
         "model": None if m is None else m, "version": None if v is None else v}
        for u, b, s, m, v in zip(frame["use_case"], frame["bucket_start"], frame["score"], frame["model_name"],
                                 frame["model_version"])]}
    assert got == want
    assert [r["score"] for r in got["scores"]] == frame["score"].tolist()  # every double read back exactly
    ScoreHistory.model_validate(got)  # the documented response model


def test_empty_history_and_a_non_finite_score() -> None:
    empty = _frame().iloc[:0]
    assert json.loads(_history_json("f", "c", empty)) == {"farm": "f", "cow_number": "c", "scores": []}
    bad = _frame()
    bad.loc[1, "score"] = np.nan
    with pytest.raises(ValueError, match="finite"):
        _history_json("f", "c", bad)
