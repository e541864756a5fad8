"""``GET /health`` (the process answers) and ``GET /ready`` (it can answer from its stores)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from smx_assets.api.stores import ApiStores, stores

router = APIRouter(tags=["operations"])


@router.get("/health", summary="liveness: 200 while the process answers")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="readiness: 200 when the stores answer and every use case has a model, else 503")
def ready(s: Annotated[ApiStores, Depends(stores)]) -> JSONResponse:
    missing = s.readiness()
    if missing:
        return JSONResponse({"status": "not ready", "error": "; ".join(missing)[:600], "missing": missing},
                            status_code=503)
    models = {name: {"champion": f"{ms.champion.name} v{ms.champion.version}",
                     "shadow": f"{ms.challenger.name} v{ms.challenger.version}" if ms.challenger else None}
              for name, ms in s.models.current().items()}
    return JSONResponse({"status": "ready", "models": models})
