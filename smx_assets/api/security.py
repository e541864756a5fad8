"""The bearer token on every ``/v1`` path, and where the server may listen without one.

``SMX_API_TOKEN`` (a secret setting: masked in every log record, never echoed). Compared in
constant time. Without a token ``/v1`` is open, which :func:`check_listen` allows on a loopback
address only: an open API on a network interface would hand every farm's data to anyone.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import Request

from smx_assets.api.errors import ApiError


class ListenRefused(ValueError):
    """Not started: a non-loopback host without a token (the message says what to do)."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve to anything


def check_listen(host: str, token: str) -> None:
    if not token and not is_loopback(host):
        raise ListenRefused(f"refusing to listen on {host} without a token: set SMX_API_TOKEN "
                            "(the API serves every farm's data) or listen on 127.0.0.1")


def bearer_dependency(token: str):  # type: ignore[no-untyped-def]
    """A FastAPI dependency answering 401 unless ``Authorization: Bearer <token>``."""
    expected = token.encode()

    def require_token(request: Request) -> None:
        if not expected:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise ApiError(401, "missing bearer token: send Authorization: Bearer <SMX_API_TOKEN>")
        if not hmac.compare_digest(given.strip().encode(), expected):
            raise ApiError(401, "wrong bearer token")

    return require_token
