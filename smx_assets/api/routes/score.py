"""``POST /v1/score``: a cow's score for the bucket containing ``at``, computed now through the
serving feature path and the champion (and shadow) the batch run would use
(:func:`~smx_assets.domain.scoring.on_demand.score_bucket`): for a bucket the batch run scored
and whose readings have not changed since, exactly its stored score."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from smx_assets.api.errors import ApiError, bad_input
from smx_assets.api.routes._params import MAX_TEXT, parse_time
from smx_assets.api.stores import ApiStores, stores
from smx_assets.domain.scoring.on_demand import NotScorable, score_bucket

router = APIRouter(tags=["scores"])


class ScoreRequest(BaseModel):
    farm: str = Field(min_length=1, max_length=MAX_TEXT)
    cow_number: str = Field(min_length=1, max_length=MAX_TEXT)
    use_case: str = Field(min_length=1, max_length=MAX_TEXT)
    at: str = Field(min_length=1, max_length=40, description="a UTC time inside the bucket to score")
    as_known_at: str | None = Field(default=None, max_length=40,
                                    description="only readings received by then (what a run at that time saw)")


class ModelScore(BaseModel):
    score: float
    model: str
    version: str


class ScoreResponse(BaseModel):
    farm: str
    cow_number: str
    use_case: str
    bucket_start: str
    score: float
    model: str
    version: str
    fallback: bool
    n_readings: int
    shadow: list[ModelScore]


@router.post("/score", response_model=ScoreResponse, summary="score a cow's bucket now (the batch run's answer)")
def score_now(body: ScoreRequest, s: Annotated[ApiStores, Depends(stores)]) -> ScoreResponse:
    at = parse_time(body.at, "at")
    known = parse_time(body.as_known_at, "as_known_at")
    now = pd.Timestamp.now(tz="UTC")
    if at is None or at > now:
        raise bad_input(f"at: {body.at} is in the future (the bucket has no readings yet)")
    if body.use_case not in s.models.use_case_names:
        raise bad_input(f"use_case: {body.use_case!r} is not one of {', '.join(s.models.use_case_names)}")
    animal = s.animal_id(body.farm, body.cow_number)
    try:
        models = s.models.get(body.use_case)
    except LookupError as exc:
        raise ApiError(503, str(exc)) from None
    try:
        with s.computing():
            result = score_bucket(s.sensors, s.records(), s.baselines, models, animal, at, known_at=known)
    except NotScorable as exc:
        raise ApiError(404, f"cow {body.cow_number} of farm {body.farm}: {exc}") from None
    c = result.champion
    return ScoreResponse(farm=body.farm, cow_number=body.cow_number, use_case=result.use_case,
                         bucket_start=result.bucket_start.strftime("%Y-%m-%dT%H:%M:%SZ"), score=c.score,
                         model=c.model, version=c.version, fallback=c.fallback, n_readings=result.n_readings,
                         shadow=[ModelScore(score=r.score, model=r.model, version=r.version) for r in result.shadow])
