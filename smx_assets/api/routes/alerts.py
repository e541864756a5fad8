"""``GET /v1/alerts`` (keyset pages of the alerts ``smx alerts`` lists) and ``GET /v1/alerts/{id}``
(the lineage ``smx explain --json`` prints): the same functions as those commands."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from smx_assets.api.errors import bad_input, not_found
from smx_assets.api.routes._params import DEFAULT_PAGE, MAX_ALERT_RANGE, MAX_PAGE, MAX_TEXT, check_range, parse_time
from smx_assets.api.stores import ApiStores, stores
from smx_assets.domain.monitoring.alert_lookup import AlertKey, alert_rows, alert_time

router = APIRouter(tags=["alerts"])


class AlertOut(BaseModel):
    alert_id: int
    farm: str
    cow_number: str
    alert_time: str
    use_case: str
    model: str
    version: str
    score: float


class AlertPage(BaseModel):
    alerts: list[AlertOut]
    next_cursor: str | None


def _cursor(key: AlertKey) -> str:
    b, farm, animal, alert_id = key
    raw = json.dumps([b.isoformat(), farm, int(animal), int(alert_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _key(cursor: str) -> AlertKey:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        b, farm, animal, alert_id = json.loads(raw)
        if not (isinstance(farm, str) and isinstance(animal, int) and isinstance(alert_id, int)):
            raise ValueError
        return pd.Timestamp(b).tz_convert("UTC"), farm, animal, alert_id
    except (ValueError, TypeError, json.JSONDecodeError):
        raise bad_input("cursor: not a cursor this API gave (pass next_cursor as it came)") from None


@router.get("/alerts", response_model=AlertPage, summary="alerts, oldest first, in pages")
def list_alerts(
    s: Annotated[ApiStores, Depends(stores)],
    start: Annotated[str | None, Query(alias="from", description="first UTC date/time (inclusive)")] = None,
    end: Annotated[str | None, Query(alias="to", description="last UTC date/time (exclusive)")] = None,
    use_case: Annotated[str | None, Query(max_length=MAX_TEXT)] = None,
    farm: Annotated[str | None, Query(max_length=MAX_TEXT)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> AlertPage:
    t0, t1 = parse_time(start, "from"), parse_time(end, "to")
    check_range(t0, t1, MAX_ALERT_RANGE)
    if use_case is not None and use_case not in s.models.use_case_names:
        raise bad_input(f"use_case: {use_case!r} is not one of {', '.join(s.models.use_case_names)}")
    if farm is not None:
        s.require_farm(farm)
    after = _key(cursor) if cursor else None
    with s.computing():
        frame = alert_rows(s.engine, t0, t1, use_case, farm=farm, after=after, limit=limit + 1)
    more = len(frame) > limit
    frame = frame.iloc[:limit]
    alerts = [AlertOut(alert_id=int(r.alert_id), farm=str(r.farm), cow_number=str(r.cow_number),
                       alert_time=alert_time(r.bucket_start), use_case=str(r.use_case), model=str(r.model),
                       version=str(r.version), score=float(r.score)) for r in frame.itertuples(index=False)]
    last = frame.iloc[-1] if more else None
    nxt = _cursor((last["bucket_start"], str(last["farm"]), int(last["animal_id"]), int(last["alert_id"]))) \
        if last is not None else None
    return AlertPage(alerts=alerts, next_cursor=nxt)


@router.get("/alerts/{alert_id}", summary="one alert's lineage (what smx explain --json prints)")
def explain_alert(s: Annotated[ApiStores, Depends(stores)],
                  alert_id: Annotated[int, Path(ge=1, le=2**62)]) -> dict[str, Any]:
    from smx_assets.domain.monitoring.alert_lookup import add_story, explain

    try:
        with s.computing():
            doc = add_story(explain(alert_id, s.settings), s.settings)
    except LookupError:
        raise not_found(f"no alert with id {alert_id}") from None
    return json.loads(json.dumps(doc, default=str))  # the --json document, as printed
