"""``POST /v1/feedback``: the farmer's verdict on an alert, stored where model performance reads
it (``feedback``, through :func:`~smx_assets.domain.monitoring.queries.record_feedback`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from smx_assets.api.errors import bad_input, not_found
from smx_assets.api.routes._params import parse_time
from smx_assets.api.stores import ApiStores, stores
from smx_assets.domain.monitoring.queries import record_feedback

router = APIRouter(tags=["feedback"])


class FeedbackRequest(BaseModel):
    alert_id: int = Field(ge=1, le=2**62)
    verdict: Literal["confirmed", "rejected"]
    note: str | None = Field(default=None, max_length=2000)
    given_at: str | None = Field(default=None, max_length=40,
                                 description="when the farmer gave the verdict (UTC; default: now)")


@router.post("/feedback", status_code=201, summary="store a farmer's verdict on an alert")
def give_feedback(body: FeedbackRequest, s: Annotated[ApiStores, Depends(stores)]) -> JSONResponse:
    try:
        stored = record_feedback(s.engine, body.alert_id, body.verdict, note=body.note,
                                 given_at=parse_time(body.given_at, "given_at"))
    except ValueError as exc:
        raise bad_input(str(exc)) from None
    if stored is None:
        raise not_found(f"no alert with id {body.alert_id}")
    stored["given_at"] = stored["given_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return JSONResponse(stored, status_code=201)
