"""``GET /v1/scores``: a cow's stored champion scores (the score store, as the batch runs wrote them)."""

from __future__ import annotations

import json
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
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
) -> Response:
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
             use_case: str | None) -> Response:
    frame = s.scores.read(t0, t1, use_case=use_case, shadow=False, animal_ids=[animal],
                          lineage=("use_case", "model_name", "model_version"))
    frame = frame.sort_values(["bucket_start", "use_case"], kind="stable")
    return Response(_history_json(farm, cow_number, frame), media_type="application/json")


def _history_json(farm: str, cow_number: str, frame: pd.DataFrame) -> bytes:
    """ScoreHistory's document (response_model still states it), written as text directly.

    Why: a week is 1,008 rows, and a pydantic object a row, or even a dict a row through
    ``json.dumps``, cost a quarter of the request. Everything but the bucket and the score is
    the same for all rows of one lineage id: those parts are encoded once per lineage id by
    ``json.dumps`` (escaping included), the score by ``float.__repr__``, which is what
    ``json.dumps`` writes for a float (the shortest text that reads back as the same double)."""
    scores = frame["score"].to_numpy("float64")
    if not np.isfinite(scores).all():  # not JSON: refused as JSONResponse refuses it
        raise ValueError("a stored score is not a finite number")
    parts: dict[int, tuple[str, str]] = {}
    for lid, uc, m, v in frame[["lineage_id", "use_case", "model_name", "model_version"]].drop_duplicates(
            "lineage_id").itertuples(index=False):
        model = None if pd.isna(m) else str(m)
        version = None if pd.isna(v) else str(v)
        parts[int(lid)] = (f'{{"use_case":{_text(str(uc))},"bucket_start":"',
                           f',"model":{_text(model)},"version":{_text(version)}}}')
    starts = np.datetime_as_string(frame["bucket_start"].dt.tz_convert(None).to_numpy("datetime64[s]"), unit="s")
    rows = [f'{parts[lid][0]}{b}Z","score":{sc!r}{parts[lid][1]}'
            for lid, b, sc in zip(frame["lineage_id"].tolist(), starts.tolist(), scores.tolist())]
    head = f'{{"farm":{_text(farm)},"cow_number":{_text(cow_number)}'
    return f'{head},"scores":[{",".join(rows)}]}}'.encode()


def _text(value: str | None) -> str:
    """A JSON string (or null), escaped by ``json.dumps``."""
    return json.dumps(value, ensure_ascii=False)
