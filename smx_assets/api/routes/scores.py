"""``GET /v1/scores``: a cow's stored champion scores (the score store, as the batch runs wrote them)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from smx_assets.api.errors import bad_input
from smx_assets.api.routes._params import DEFAULT_SCORE_RANGE, MAX_SCORE_RANGE, MAX_TEXT, check_range, parse_time
from smx_assets.api.stores import ApiStores, stores

router = APIRouter(tags=["scores"])


class StoredScore(BaseModel):
    use_case: str
    bucket_start: str
    score: float
    model: str | None
    version: str | None


class ScoreHistory(BaseModel):
    farm: str
    cow_number: str
    scores: list[StoredScore]


@router.get("/scores", response_model=ScoreHistory, summary="a cow's stored champion scores, oldest first")
def cow_scores(
    s: Annotated[ApiStores, Depends(stores)],
    farm: Annotated[str, Query(min_length=1, max_length=MAX_TEXT)],
    cow_number: Annotated[str, Query(min_length=1, max_length=MAX_TEXT)],
    use_case: Annotated[str | None, Query(max_length=MAX_TEXT)] = None,
    start: Annotated[str | None, Query(alias="from", description="first UTC date/time (default: 7 days before to)")] = None,
    end: Annotated[str | None, Query(alias="to", description="last UTC date/time, exclusive (default: now)")] = None,
) -> JSONResponse:
    t0, t1 = parse_time(start, "from"), parse_time(end, "to")
    if t1 is None:
        t1 = (t0 + DEFAULT_SCORE_RANGE) if t0 is not None else pd.Timestamp.now(tz="UTC")
    if t0 is None:
        t0 = t1 - DEFAULT_SCORE_RANGE
    check_range(t0, t1, MAX_SCORE_RANGE)
    if use_case is not None and use_case not in s.models.use_case_names:
        raise bad_input(f"use_case: {use_case!r} is not one of {', '.join(s.models.use_case_names)}")
    animal = s.animal_id(farm, cow_number)
    with s.computing():
        return _history(s, farm, cow_number, animal, t0, t1, use_case)


def _history(s: ApiStores, farm: str, cow_number: str, animal: int, t0: pd.Timestamp, t1: pd.Timestamp,
             use_case: str | None) -> JSONResponse:
    frame = s.scores.read(t0, t1, use_case=use_case, shadow=False, animal_ids=[animal],
                          lineage=("use_case", "model_name", "model_version"))
    frame = frame.sort_values(["bucket_start", "use_case"], kind="stable")
    # Built column-wise and returned as JSON directly: a week is 1,008 rows, and a pydantic
    # object a row (validated once more against response_model) cost more than reading them.
    # The document is exactly ScoreHistory's (response_model still states it).
    names = [None if pd.isna(v) else str(v) for v in frame["model_name"]]
    versions = [None if pd.isna(v) else str(v) for v in frame["model_version"]]
    starts = np.datetime_as_string(frame["bucket_start"].dt.tz_convert(None).to_numpy("datetime64[s]"), unit="s")
    out = [{"use_case": str(u), "bucket_start": f"{b}Z", "score": sc, "model": m, "version": v}
           for u, b, sc, m, v in zip(frame["use_case"], starts.tolist(), frame["score"].astype("float64").tolist(),
                                     names, versions)]
    return JSONResponse({"farm": farm, "cow_number": cow_number, "scores": out})
