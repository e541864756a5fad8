"""Failures as one readable JSON message, and one access-log line per request.

Every error response is ``{"error": "<one line>"}``: 401 (token), 404 (unknown farm, cow, alert),
422 (a bad parameter: which one and what is allowed), 503 (a store or model missing), 500 (any
other failure: its type and masked message go to the log as one line, the client gets no detail).
No traceback reaches a response or the log: :class:`RequestLog` is the outermost layer and answers
any exception itself (Starlette's own error middleware would log the traceback and re-raise).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from smx_assets.domain.redaction import redact

access_log = logging.getLogger("smx.api.access")
error_log = logging.getLogger("smx.api")


class ApiError(Exception):
    """An answer other than 200: ``status`` and one line for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def bad_input(message: str) -> ApiError:
    return ApiError(422, message)


def error_body(message: str) -> dict[str, str]:
    return {"error": " ".join(redact(message).split())[:600]}


def _validation_message(exc: RequestValidationError) -> str:
    """The first problem in words: ``cow_number: field required``, ``limit: must be <= 1000``."""
    errors = exc.errors()
    if not errors:
        return "bad request"
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    where = ".".join(loc) or "request body"
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{where}: {msg}{more}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(error_body(exc.message), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(_validation_message(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        text = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and text == "Not Found":
            text = f"no such path: {request.url.path} (see /docs)"
        return JSONResponse(error_body(text), status_code=exc.status_code)


class RequestLog:
    """ASGI middleware: one access line per request (method, path, status, latency), and a 500
    with one logged line for any exception that escaped the handlers. The query string is logged
    (no secret travels in it: the token is a header, never logged)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500, "started": False}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # noqa: BLE001 - the one place an unexpected failure is answered
            error_log.error("%s %s failed: %s: %s", scope.get("method"), scope.get("path"), type(exc).__name__,
                            " ".join(redact(str(exc)).split())[:600])
            if not status["started"]:
                response = JSONResponse(error_body("internal error (the server log has the cause)"), status_code=500)
                await response(scope, receive, send_wrapper)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            path = scope.get("path", "") + (f"?{query}" if query else "")
            access_log.info("%s %s %d %.1f ms", scope.get("method"), path, status["code"],
                            (time.perf_counter() - t0) * 1000)
