"""The stores one API process answers from, opened once, and what it keeps between requests.

:class:`ApiStores` is created when the process starts (the app's lifespan) and handed to the
routes by :func:`stores` (a FastAPI dependency). A uvicorn worker is a process: each opens its
own connections. Kept for at most ``SMX_API_MODEL_TTL_S`` seconds: the resolved champion and
challenger versions (:class:`~smx_assets.domain.scoring.on_demand.LiveModels`), the herd records
and the farm/cow index (a registered cow is found within that time), a day's baselines. A
background thread refreshes them at half that period, so no request waits for a refresh. The
records and the index (one :class:`HerdView`) are read again only when the herd DB's
:class:`~smx_assets.domain.table_changes.ChangeToken` moved (or after
:data:`RECORDS_MAX_AGE_S`): reading them took 0.4-0.5 s of Python at 10,000 animals, which the
requests running meanwhile waited for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from fastapi import Request

from smx_assets.api.errors import ApiError
from smx_assets.domain.features.profile import FarmRecords, load_herd_records
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.importers.cells import cow_text
from smx_assets.domain.score_store import ScoreFiles, ScoreStore
from smx_assets.domain.scoring.on_demand import BaselineDays, LiveModels, TimedCache
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sql_engine import make_engine
from smx_assets.domain.table_changes import ChangeToken
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.settings import Settings

log = logging.getLogger("smx.api")

# Records and the cow index are read again at least this often even when the change token
# stands still (a backstop for what a token cannot see, e.g. a wrapped PostgreSQL xid).
RECORDS_MAX_AGE_S = 300.0
# What load_herd_records and cow_index read.
RECORD_TABLES = ("farms", "climate_sensors", "animals", "housing_periods", "lactations", "inseminations",
                 "treatments", "alerts", "feedback")


def cow_index(engine: sa.Engine) -> dict[tuple[str, str], int]:
    """(farm name, cow number) -> animal id; the cow number is the farm's own number, else the
    ear tag (the rule of ``smx alerts``)."""
    from smx_assets.domain.herd_db import Animal, Farm

    an, f = Animal.__table__, Farm.__table__
    q = sa.select(f.c.name, sa.func.coalesce(an.c.cow_number, an.c.ear_tag), an.c.id).select_from(
        an.join(f, f.c.id == an.c.farm_id))
    with engine.connect() as conn:
        return {(str(farm), str(cow)): int(i) for farm, cow, i in conn.execute(q) if cow is not None}


@dataclass(frozen=True)
class HerdView:
    """The herd records and the farm/cow index, read together: both come from the same tables,
    so one change token and one refresh keep them in step."""

    records: FarmRecords
    cows: dict[tuple[str, str], int]


@dataclass
class ApiStores:
    settings: Settings
    engine: sa.Engine
    sensors: SensorStore
    features: FeatureFiles
    scores: ScoreStore
    models: LiveModels
    herd_cache: TimedCache[HerdView]
    baselines: BaselineDays
    changes: ChangeToken | None = None
    slots: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(1))
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings) -> ApiStores:
        from smx_assets.domain import model_registry

        engine = make_engine(settings.herd_db_url, connect_timeout_s=settings.database.connect_timeout_s)
        sensors = open_sensor_store(settings.sensor_store_url, connect_timeout_s=settings.database.connect_timeout_s)
        client = model_registry.configure(settings.mlflow_tracking_uri)
        ttl = settings.api.model_ttl_s
        files = FeatureFiles(settings.features_path)
        changes = ChangeToken(engine, RECORD_TABLES)
        return cls(settings=settings, engine=engine, sensors=sensors, features=files,
                   scores=ScoreStore(engine, ScoreFiles(settings.features_path)),
                   models=LiveModels(list(all_use_cases()), client, ttl_s=ttl),
                   herd_cache=TimedCache(lambda: HerdView(load_herd_records(engine), cow_index(engine)), ttl,
                                         token=changes.current, max_age_s=RECORDS_MAX_AGE_S),
                   baselines=BaselineDays(files, ttl), changes=changes,
                   slots=threading.BoundedSemaphore(settings.api.concurrent_requests))

    def start_refresher(self) -> None:
        """Refresh models, records and the cow index every half TTL on a daemon thread (records
        and index only if the herd DB changed)."""
        period = self.settings.api.model_ttl_s / 2

        def loop() -> None:
            while not self._stop.wait(period):
                for what, refresh in (("models", self.models.refresh), ("records", self.herd_cache.refresh)):
                    try:
                        refresh()
                    except Exception as exc:  # noqa: BLE001 - a store down: the next request says so
                        log.warning("refreshing %s failed: %s: %s", what, type(exc).__name__, exc)

        self._thread = threading.Thread(target=loop, name="smx-api-refresh", daemon=True)
        self._thread.start()

    @contextmanager
    def computing(self) -> Iterator[None]:
        """Hold one of the worker's computing slots (``SMX_API_CONCURRENT_REQUESTS``) while a
        request reads and computes. Why: a uvicorn worker runs sync handlers on threads that
        share one GIL; two requests computing at once in one process each took 3-4x as long
        as alone (measured: 2 clients on 1 worker served 24 requests/s, 1 client 34), because
        every store call that releases the GIL waits for it again behind the other request.
        One at a time, a request waits at most for those ahead of it; more workers add cores."""
        with self.slots:
            yield

    def warm(self) -> None:
        """Read the records and the cow index before the first request (a store down: the
        first request or /ready says so)."""
        try:
            self.herd_cache.get()
        except Exception as exc:  # noqa: BLE001
            log.warning("reading the herd records failed: %s: %s", type(exc).__name__, exc)

    def records(self) -> FarmRecords:
        return self.herd_cache.get().records

    def animal_id(self, farm: str, cow_number: str) -> int:
        """The cow's animal id; 404 naming the unknown farm or cow. The number is read by the
        importer's rule (NFC, invisible characters out), so the app finds the cow that an
        export wrote with a zero-width space or decomposed accent."""
        normal, problem = cow_text(cow_number)
        if problem:
            raise ApiError(422, f"cow_number: {problem}")
        index = self.herd_cache.get().cows
        found = index.get((farm, normal or cow_number))
        if found is not None:
            return found
        if not any(f == farm for f, _ in index):
            raise ApiError(404, f"no farm named {farm!r}")
        raise ApiError(404, f"no cow {cow_number!r} on farm {farm!r}")

    def require_farm(self, farm: str) -> None:
        if not any(f == farm for f, _ in self.herd_cache.get().cows):
            raise ApiError(404, f"no farm named {farm!r}")

    def readiness(self) -> list[str]:
        """What is missing for answering: unreachable stores, use cases without a model."""
        missing: list[str] = []
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001
            missing.append(f"herd DB: {type(exc).__name__}: {exc}")
        try:
            now = pd.Timestamp.now(tz="UTC").floor("10min")
            self.sensors.read_climate(now - pd.Timedelta(minutes=10), now, [0])
        except Exception as exc:  # noqa: BLE001
            missing.append(f"sensor store: {type(exc).__name__}: {exc}")
        try:
            sets = self.models.current()
            missing += [self.models.errors.get(uc.name, f"{uc.name}: no champion or rule baseline")
                        for uc in self.models.use_cases if uc.name not in sets]
        except Exception as exc:  # noqa: BLE001
            missing.append(f"model registry: {type(exc).__name__}: {exc}")
        return missing

    def close(self) -> None:
        self._stop.set()
        if self.changes is not None:
            self.changes.close()
        self.sensors.close()
        self.engine.dispose()


def stores(request: Request) -> ApiStores:
    """The process's stores (FastAPI dependency)."""
    return request.app.state.stores  # type: ignore[no-any-return]


__all__ = ["RECORDS_MAX_AGE_S", "RECORD_TABLES", "ApiStores", "HerdView", "cow_index", "stores"]
