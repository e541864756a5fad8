"""The tracking/registry URI as MLflow is given it: no password inside.

MLflow quotes the URI it was given in its errors (``API request to http://user:PW@host/...
failed``) and those errors reach logs, the Dagster event log and compute logs. So for an
MLflow server (``http``/``https``) the credentials are moved out of the URI into MLflow's own
documented ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (basic auth, sent on every
request exactly as credentials in the URL were), and MLflow only ever sees ``http://host``.
Database URIs (``postgresql://user:pw@...``) keep their credentials, percent-encoded so that a
``#``, ``/`` or ``?`` in the password parses; SQLAlchemy masks them itself. One set of
credentials per process: a registry on a different server must accept the same account.
"""

from __future__ import annotations

import threading

from mlflow.environment_variables import MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_USERNAME

from smx_assets.domain.redaction import credentials, normalise_url, register_url, split_url, without_credentials


def for_mlflow(uri: str, *, ensure: bool = True) -> str:
    """``uri`` made safe to hand to MLflow (see the module docstring); its secrets registered.

    A local SQLite store is created here, once per process, under a file lock
    (:func:`ensure_store`): MLflow creates it lazily on first use, and two processes creating
    it at once collide in its schema migrations. ``ensure=False`` skips that for a caller that
    may never open the store (a scoring run with pinned, cached models): opening a client later
    goes through ``ensure`` again.
    """
    register_url(uri)
    parts = split_url(uri)
    if parts is None:
        return uri
    if parts.scheme.lower() in ("http", "https") and parts.user is not None:
        user, password = credentials(uri)
        MLFLOW_TRACKING_USERNAME.set(user or "")
        if password is not None:
            MLFLOW_TRACKING_PASSWORD.set(password)
        return without_credentials(uri)
    uri = normalise_url(uri)
    if ensure:
        ensure_store(uri)
    return uri


_ready: set[str] = set()
_ready_lock = threading.Lock()


def ensure_store(uri: str) -> None:
    """Create a local SQLite MLflow store (tracking and registry tables) under a file lock."""
    if not uri.startswith("sqlite:///"):
        return
    with _ready_lock:
        if uri in _ready:
            return
        from mlflow import MlflowClient

        from smx_assets.domain.run_hygiene import store_lock

        with store_lock(uri):
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments(max_results=1)  # runs the tracking store's migrations
            client.search_registered_models(max_results=1)  # and the registry's
        _ready.add(uri)


def check_mlflow_uri(uri: str, *, registry: bool = False) -> None:
    """Raise ``ValueError`` (a short reason, no URI in it) unless MLflow has a tracking (or,
    with ``registry``, a model-registry) store for ``uri``'s scheme, asked of MLflow's own store
    registries (plugins included), and the URI's form fits the store: a server's host, a
    database URI's form, port and installed driver. Nothing is connected or created.

    Why: ``MLFLOW_TRACKING_URI=ftp://x`` was accepted and failed at the first training,
    minutes into a demo.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.store.db.db_types import DATABASE_ENGINES
    from mlflow.tracking._model_registry.utils import _get_store_registry
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry
    from mlflow.utils.uri import get_uri_scheme

    from smx_assets.domain.sql_engine import check_sql_url

    norm = normalise_url(uri)
    stores = _get_store_registry() if registry else _tracking_store_registry
    try:
        stores.get_store_builder(norm)
    except MlflowException:
        schemes = ", ".join(sorted(s for s in stores._registry if s))
        kind = "model registry" if registry else "tracking"
        raise ValueError(f"MLflow has no {kind} store for the scheme {get_uri_scheme(norm)!r} "
                         f"(it takes {schemes} or a folder)") from None
    scheme = get_uri_scheme(norm)
    if scheme in DATABASE_ENGINES:
        check_sql_url(norm, backends=None)
    elif scheme in ("http", "https"):
        from urllib.parse import urlsplit

        parts = urlsplit(norm)
        if not parts.hostname:
            raise ValueError("an MLflow server URL needs a host (http://host:port)")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port is not None and not 1 <= port <= 65535:
            raise ValueError("the port is not a number from 1 to 65535")
