"""InfluxDB-specific behaviour on real servers: auth, errors inside HTTP 200, partial writes,
body limits, unreachable servers, and the throw-away server helper itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from smx_assets.devtools.influx_server import InfluxServer, render_config
from smx_assets.domain.sensor_store.base import SensorStoreError
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sensor_store.influx_store import InfluxSensorStore, quote_ident, quote_literal

T0 = pd.Timestamp("2025-03-01", tz="UTC")
H = pd.Timedelta(hours=1)

pytestmark = pytest.mark.influx


def one_reading(animal_id: int = 1) -> pd.DataFrame:
    return pd.DataFrame({
        "animal_id": np.array([animal_id], dtype="int64"),
        "ts": pd.to_datetime(["2025-03-01T00:05:00Z"]),
        "temp_c": [39.0], "activity": [1.0], "ph": [np.nan],
    })


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    server = InfluxServer.start(tmp_path_factory.mktemp("influx_auth"), auth=True)
    yield server
    server.stop()


def test_server_binds_loopback_and_answers_ping(influx_server: InfluxServer) -> None:
    assert requests.get(f"{influx_server.http_url}/ping", timeout=5).status_code == 204
    config = (influx_server.base_dir / "influxdb.conf").read_text()
    assert f'bind-address = "127.0.0.1:{influx_server.http_port}"' in config
    assert f'bind-address = "127.0.0.1:{influx_server.rpc_port}"' in config
    assert "reporting-disabled = true" in config


def test_config_keeps_all_state_under_base_dir(tmp_path: Path) -> None:
    text = render_config(tmp_path, 1, 2, auth=True)
    for key in ("dir", "wal-dir"):
        assert f'{key} = "{tmp_path}' in text
    assert "auth-enabled = true" in text


def test_auth_with_right_credentials_works(auth_server: InfluxServer) -> None:
    store = open_sensor_store(auth_server.url)
    store.ensure_schema()
    assert store.write_bolus(one_reading()) == 1
    assert len(store.read_bolus(T0, T0 + H)) == 1
    assert auth_server.password and auth_server.password not in store.url_for_display


def test_wrong_password_is_a_clear_error_without_the_password(auth_server: InfluxServer) -> None:
    store = open_sensor_store(auth_server.url_with(user=auth_server.username, password="wrong-pw-123"))
    with pytest.raises(SensorStoreError, match="refused the credentials") as err:
        store.read_bolus(T0, T0 + H)
    assert "wrong-pw-123" not in str(err.value)
    with pytest.raises(SensorStoreError, match="refused the credentials"):
        store.write_bolus(one_reading())
    anonymous = open_sensor_store(auth_server.url_with())
    with pytest.raises(SensorStoreError, match="refused the credentials"):
        anonymous.read_bolus(T0, T0 + H)


def test_query_error_inside_http_200_is_raised(store: InfluxSensorStore) -> None:
    with pytest.raises(SensorStoreError, match="query failed"):
        list(store._query("SELECT nope FROM bolus WHERE time > 'not a time'"))


def test_missing_database_is_an_error_not_an_empty_result(influx_server: InfluxServer) -> None:
    store = open_sensor_store(influx_server.url_with(database="never_created_db"))
    with pytest.raises(SensorStoreError, match="database not found"):
        store.read_bolus(T0, T0 + H)
    with pytest.raises(SensorStoreError, match="ensure_schema"):
        store.write_bolus(one_reading())


def test_partial_write_on_field_type_conflict_is_raised(store: InfluxSensorStore) -> None:
    store.write_bolus(one_reading())
    # someone else wrote temp_c as a string into our measurement: the server stores what it
    # can and answers 400 "partial write"; we must not report success
    resp = store._request("POST", "/write", params={"db": store.database, "precision": "s"},
                          data=b'bolus,animal_id=5 temp_c="hot",activity=1.0,received_at=1i 1740787200')
    assert resp.status_code == 400
    with pytest.raises(SensorStoreError, match="field type conflict"):
        store._post_lines([
            "bolus,animal_id=6 temp_c=39.0,activity=1.0,received_at=1i 1740787200",
            'bolus,animal_id=7 temp_c="x",activity=1.0,received_at=1i 1740787200',
        ])


def test_body_too_large_is_split_and_retried(store: InfluxSensorStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = store._request

    def limited(method: str, path: str, **kw: object) -> requests.Response:
        if path == "/write":
            size = len(kw["data"])  # type: ignore[arg-type]
            calls.append(size)
            if size > 2_000:
                resp = requests.Response()
                resp.status_code = 413
                resp._content = b'{"error":"Request Entity Too Large"}'
                return resp
        return real(method, path, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_request", limited)
    frame = pd.concat([one_reading(i) for i in range(1, 101)], ignore_index=True)
    assert store.write_bolus(frame) == 100
    assert len(store.read_bolus(T0, T0 + H)) == 100
    assert max(calls) > 2_000 and len(calls) > 3


def test_unreachable_server_fails_after_bounded_retries() -> None:
    from smx_assets.devtools.influx_server import free_port

    store = InfluxSensorStore(f"http://127.0.0.1:{free_port()}", "db", retries=2, backoff_s=0.01)
    with pytest.raises(SensorStoreError, match="after 3 attempts"):
        store.read_bolus(T0, T0 + H)


def test_quoting_escapes_quotes_and_backslashes() -> None:
    assert quote_literal("1' OR 1=1") == r"'1\' OR 1=1'"
    assert quote_literal("a\\' x") == r"'a\\\' x'"
    assert quote_ident('we"ird') == r'"we\"ird"'


def test_hostile_database_name_stays_one_identifier(influx_server: InfluxServer) -> None:
    name = 'x"; DROP DATABASE "smx'
    store = InfluxSensorStore(influx_server.http_url, name)
    store.ensure_schema()
    store.write_bolus(one_reading())
    assert len(store.read_bolus(T0, T0 + H)) == 1
    dbs = requests.post(f"{influx_server.http_url}/query", data={"q": "SHOW DATABASES"}, timeout=5).json()
    names = [v[0] for v in dbs["results"][0]["series"][0]["values"]]
    assert name in names
