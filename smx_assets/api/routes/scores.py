"""``GET /v1/scores``: a cow's stored champion scores (the score store, as the batch runs wrote them)."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, Query
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
) -> ScoreHistory:
    t0, t1 = parse_time(start, "from"), parse_time(end, "to")
    if t1 is None:
        t1 = (t0 + DEFAULT_SCORE_RANGE) if t0 is not None else pd.Timestamp.now(tz="UTC")
    if t0 is None:
        t0 = t1 - DEFAULT_SCORE_RANGE
    check_range(t0, t1, MAX_SCORE_RANGE)
    if use_case is not None and use_case not in s.models.use_case_names:
        raise bad_input(f"use_case: {use_case!r} is not one of {', '.join(s.models.use_case_names)}")
    animal = s.animal_id(farm, cow_number)
    frame = s.scores.read(t0, t1, use_case=use_case, shadow=False, animal_ids=[animal],
                          lineage=("use_case", "model_name", "model_version"))
    frame = frame.sort_values(["bucket_start", "use_case"], kind="stable")
    out = [StoredScore(use_case=str(r.use_case), bucket_start=r.bucket_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       score=float(r.score), model=None if pd.isna(r.model_name) else str(r.model_name),
                       version=None if pd.isna(r.model_version) else str(r.model_version))
           for r in frame.itertuples(index=False)]
    return ScoreHistory(farm=farm, cow_number=cow_number, scores=out)
