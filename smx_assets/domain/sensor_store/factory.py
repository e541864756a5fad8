"""Pick the sensor-store backend from ``SMX_SENSOR_STORE_URL``.

* ``sqlite:///path/sensors.db`` or ``postgresql+psycopg2://user:pw@host/db`` -> :class:`SqlSensorStore`
* ``influxdb://[user:password@]host:port/database[?ssl=true&token=...&timeout=30]`` and
  ``influxdbs://...`` (HTTPS) -> :class:`InfluxSensorStore` (v1-compatible HTTP API; a token
  is sent as ``Authorization: Token ...`` as InfluxDB 2.x/3.x v1 compatibility expects).
  ``read_cache=/local/folder`` turns on the per-bucket read cache of the serving/scoring
  window (``read_cache`` module): a 10-minute run then fetches only new and rewritten buckets.

One URL per deployment keeps configuration a single environment variable (injected as a
secret through Dagster's ``EnvVar``); :func:`mask_url` is what may be logged or shown.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, unquote, urlsplit

import sqlalchemy as sa

from smx_assets.domain.redaction import mask_url, normalise_url, register_url
from smx_assets.domain.sensor_store.base import SensorStore

__all__ = ["check_sensor_store_url", "mask_url", "open_sensor_store", "parse_influx_url", "influx_url"]

INFLUX_SCHEMES = ("influxdb", "influxdbs")


def parse_influx_url(url: str) -> dict[str, object]:
    """Split an ``influxdb://`` URL into the keyword arguments of :class:`InfluxSensorStore`.

    Credentials may be written unencoded (``admin:Hunter2#Zq@host``): they are percent-encoded
    first, so a ``#``, ``/`` or ``?`` in a password does not end the host part.
    """
    url = normalise_url(url)
    parts = urlsplit(url)
    if parts.scheme not in INFLUX_SCHEMES:
        raise ValueError(f"not an InfluxDB URL: {mask_url(url)}")
    if not parts.hostname:
        raise ValueError(f"InfluxDB URL lacks a host: {mask_url(url)}")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise ValueError(f"InfluxDB URL must name exactly one database: {mask_url(url)}")
    params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(params) - {"ssl", "token", "timeout", "verify_ssl", "retries", "read_cache"}
    if unknown:
        raise ValueError(f"unknown InfluxDB URL parameters {sorted(unknown)}: {mask_url(url)}")
    ssl = parts.scheme == "influxdbs" or params.get("ssl", "false").lower() in ("1", "true", "yes")
    try:
        port = parts.port or 8086
    except ValueError as exc:
        raise ValueError(f"the InfluxDB URL's port is not a number from 1 to 65535: {mask_url(url)}") from exc
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    kwargs: dict[str, object] = {
        "base_url": f"{'https' if ssl else 'http'}://{host}:{port}",
        "database": database,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password is not None else None,
        "token": params.get("token") or None,
        "verify_ssl": params.get("verify_ssl", "true").lower() not in ("0", "false", "no"),
        "url_for_display": mask_url(url),
    }
    if "timeout" in params:
        kwargs["timeout_s"] = _number(params["timeout"], float, "timeout", "a number of seconds > 0", url)
    if "retries" in params:
        kwargs["retries"] = _number(params["retries"], int, "retries", "a whole number >= 0", url)
    if params.get("read_cache"):
        kwargs["read_cache_dir"] = params["read_cache"]
    return kwargs


def _number(text: str, kind: type, name: str, allowed: str, url: str) -> float | int:
    """A numeric URL parameter, or a ValueError naming it, the value and what is allowed."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value != value or value < 0 or (name == "timeout" and value == 0):
        raise ValueError(f"InfluxDB URL parameter {name}={text!r} is not {allowed}: {mask_url(url)}")
    return value


def influx_url(host: str, port: int, database: str, *, user: str | None = None,
               password: str | None = None, ssl: bool = False) -> str:
    """Build an ``influxdb://`` URL, percent-encoding credentials (passwords contain '@', ':')."""
    cred = ""
    if user is not None:
        cred = quote(user, safe="")
        if password is not None:
            cred += ":" + quote(password, safe="")
        cred += "@"
    return f"{'influxdbs' if ssl else 'influxdb'}://{cred}{host}:{port}/{quote(database, safe='')}"


SUPPORTED = "sqlite:///..., postgresql+psycopg2://..., influxdb://[user:password@]host:port/database or influxdbs://..."


def check_sensor_store_url(url: str) -> None:
    """Raise ``ValueError`` (a short reason, no URL in it) unless :func:`open_sensor_store` can
    open ``url``: a supported scheme, an InfluxDB URL's host, port, one database and known
    parameters, a SQL URL's form, port and installed driver. Nothing is connected or created
    (the settings call it at start, so ``redis://...`` fails before any work)."""
    from smx_assets.domain.sql_engine import check_sql_url

    norm = normalise_url(url)
    scheme = urlsplit(norm).scheme.lower()
    if scheme in INFLUX_SCHEMES:
        try:
            parse_influx_url(norm)
        except ValueError as exc:
            raise ValueError(str(exc).removesuffix(f": {mask_url(norm)}")) from None
        port = urlsplit(norm).port
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"port {port} is not a number from 1 to 65535")
        return
    if scheme.split("+", 1)[0] in ("sqlite", "postgresql"):
        check_sql_url(norm, ("sqlite", "postgresql"))
        return
    raise ValueError(f"unsupported scheme {scheme!r}")


def open_sensor_store(url: str, *, connect_timeout_s: int = 10, serialize_workers: int = 2) -> SensorStore:
    """The backend for ``url``; raises ``ValueError`` naming the supported schemes otherwise.

    ``connect_timeout_s`` bounds a PostgreSQL connect, ``serialize_workers`` is the number of
    line-protocol processes for big InfluxDB writes (both from the settings in Dagster code).
    """
    register_url(url)
    url = normalise_url(url)
    scheme = urlsplit(url).scheme.lower()
    if scheme in INFLUX_SCHEMES:
        from smx_assets.domain.sensor_store.influx_store import InfluxSensorStore

        return InfluxSensorStore(**parse_influx_url(url), serialize_workers=serialize_workers)  # type: ignore[arg-type]
    if scheme.split("+", 1)[0] in ("sqlite", "postgresql"):
        from smx_assets.domain.sensor_store.sql_store import SqlSensorStore

        try:
            sa.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise ValueError(f"bad SQLAlchemy URL for the sensor store: {mask_url(url)}") from exc
        return SqlSensorStore(url, connect_timeout_s=connect_timeout_s)
    raise ValueError(f"unsupported sensor store URL {mask_url(url)!r}: expected {SUPPORTED}")
