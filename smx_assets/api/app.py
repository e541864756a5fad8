"""The application: :func:`create_app` for given settings, :func:`app_from_env` for uvicorn.

Routes under ``/v1`` require the bearer token (:mod:`smx_assets.api.security`); ``/health``,
``/ready`` and the OpenAPI pages (``/docs``, ``/openapi.json``) do not: a load balancer probes
them, and the schema holds no data. The stores open when the process starts (a worker process
opens its own) and close when it stops.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from smx_assets.api.errors import RequestLog, install_error_handlers
from smx_assets.api.routes import alerts, feedback, health, score, scores
from smx_assets.api.security import bearer_dependency
from smx_assets.api.stores import ApiStores
from smx_assets.settings import Settings

log = logging.getLogger("smx.api")

DESCRIPTION = (
    "Alerts, score histories, on-demand scoring (the batch path's exact answer) and farmer feedback of the "
    "smx platform. Every `/v1` path needs `Authorization: Bearer <SMX_API_TOKEN>`. Errors are "
    '`{"error": "<one line>"}`.'
)


def create_app(settings: Settings, *, stores: ApiStores | None = None) -> FastAPI:
    """The API on ``settings``' stores (opened at start-up unless ``stores`` is given)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = stores or ApiStores.open(settings)
        app.state.stores = opened
        opened.models.current()  # models loaded before the first request (and /ready says why not)
        opened.warm()
        # Everything loaded so far (libraries, models, records) lives as long as the process:
        # out of the collector's sight, a full collection scans only what requests allocate.
        gc.freeze()
        opened.start_refresher()
        log.info("serving herd DB, sensor store %s, %d use cases; token %s", opened.sensors.url_for_display,
                 len(opened.models.use_cases), "required" if settings.api.token else "NOT required (loopback only)")
        try:
            yield
        finally:
            opened.close()

    app = FastAPI(title="smx API", version="1", description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health.router)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(bearer_dependency(settings.api.token))])
    for module in (alerts, scores, score, feedback):
        v1.include_router(module.router)
    app.include_router(v1)
    app.add_middleware(RequestLog)
    return app


def app_from_env() -> FastAPI:
    """uvicorn's factory (``smx serve``, one call per worker process): the settings of the environment."""
    from smx_assets.domain.redaction import install_log_redaction

    install_log_redaction()
    return create_app(Settings.from_env(create_home=False))
