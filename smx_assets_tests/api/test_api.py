"""The real ``smx serve`` on a scored herd (embedded default, and PostgreSQL + InfluxDB).

Auth, pagination, the bad inputs, the stored score histories, parity of on-demand scoring with
the batch run's stored scores (as known at the scoring where readings arrived later), the access
log, and the rules of listening without a token. Feedback and promotion: ``test_api_feedback``.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time

import pandas as pd
import pytest

from smx_assets.domain.monitoring.alert_lookup import alert_rows, alert_time
from smx_assets.domain.score_store import ScoreFiles, ScoreStore
from smx_assets.domain.sql_engine import make_engine
from smx_assets_tests.api.conftest import LATE_ANIMAL, LATE_BUCKET, REPO, TOKEN, WINDOW_END, WINDOW_START, Served

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.influx]  # ~2 min: real servers on both backends


def _one_line_error(response, status: int) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"], body
    return str(body["error"])


def _stored(served: Served) -> pd.DataFrame:
    engine = make_engine(served.herd_db_url)
    try:
        return ScoreStore(engine, ScoreFiles(served.features)).read(WINDOW_START, WINDOW_END, shadow=False)
    finally:
        engine.dispose()


def _cows(served: Served) -> dict[int, tuple[str, str]]:
    from smx_assets.api.stores import cow_index

    engine = make_engine(served.herd_db_url)
    try:
        return {animal: key for key, animal in cow_index(engine).items()}
    finally:
        engine.dispose()


def test_token_required_on_v1_only(served: Served) -> None:
    assert served.get("/health", token=None).json() == {"status": "ok"}
    ready = served.get("/ready", token=None)
    assert ready.status_code == 200 and set(ready.json()["models"]) == {"heat", "calving", "fever"}
    assert served.get("/docs", token=None).status_code == 200
    assert "/v1/score" in served.get("/openapi.json", token=None).json()["paths"]
    assert "Bearer" in _one_line_error(served.get("/v1/alerts", token=None), 401)
    assert _one_line_error(served.get("/v1/alerts", token="wrong"), 401) == "wrong bearer token"
    assert served.post("/v1/score", {}, token=None).status_code == 401  # before the body is even read
    assert served.get("/v1/alerts").status_code == 200


def test_alert_pages_list_every_alert_once_in_order(served: Served) -> None:
    engine = make_engine(served.herd_db_url)
    try:
        expected = alert_rows(engine)
    finally:
        engine.dispose()
    assert len(expected) >= 3
    got, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = served.get("/v1/alerts", **params).json()
        got += page["alerts"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == -(-len(expected) // 2)
    assert [a["alert_id"] for a in got] == expected["alert_id"].tolist()
    first = got[0]
    row = expected.iloc[0]
    assert first == {"alert_id": int(row.alert_id), "farm": row.farm, "cow_number": str(row.cow_number),
                     "alert_time": alert_time(row.bucket_start), "use_case": row.use_case, "model": row.model,
                     "version": str(row.version), "score": float(row.score)}  # full precision
    # filters
    heat = served.get("/v1/alerts", use_case="heat", limit=1000).json()["alerts"]
    assert [a["alert_id"] for a in heat] == expected.loc[expected["use_case"] == "heat", "alert_id"].tolist()
    farm = str(row.farm)
    on_farm = served.get("/v1/alerts", farm=farm, limit=1000).json()["alerts"]
    assert [a["alert_id"] for a in on_farm] == expected.loc[expected["farm"] == farm, "alert_id"].tolist()
    later = row.bucket_start + pd.Timedelta(minutes=10)
    after = served.get("/v1/alerts", limit=1000, **{"from": later.isoformat()}).json()["alerts"]
    assert [a["alert_id"] for a in after] == expected.loc[expected["bucket_start"] >= later, "alert_id"].tolist()


def test_alert_detail_is_what_explain_json_prints(served: Served) -> None:
    alert_id = served.get("/v1/alerts", limit=1).json()["alerts"][0]["alert_id"]
    out = subprocess.run([sys.executable, "-m", "smx_assets.cli", "explain", str(alert_id), "--json"],
                         env=served.env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert served.get(f"/v1/alerts/{alert_id}").json() == json.loads(out.stdout)


def test_bad_inputs_one_readable_line(served: Served) -> None:
    cow = next(iter(_cows(served).values()))
    assert "from" in _one_line_error(served.get("/v1/alerts", **{"from": "yesterday"}), 422)
    assert "limit" in _one_line_error(served.get("/v1/alerts", limit=0), 422)
    assert "limit" in _one_line_error(served.get("/v1/alerts", limit=5000), 422)
    assert "cursor" in _one_line_error(served.get("/v1/alerts", cursor="not-a-cursor"), 422)
    assert "366 days" in _one_line_error(served.get("/v1/alerts", **{"from": "2020-01-01", "to": "2026-01-01"}), 422)
    assert "after" in _one_line_error(served.get("/v1/alerts", **{"from": "2026-09-08", "to": "2026-09-07"}), 422)
    assert "use_case" in _one_line_error(served.get("/v1/alerts", use_case="colic"), 422)
    assert "no farm" in _one_line_error(served.get("/v1/alerts", farm="Atlantis"), 404)
    assert "no alert" in _one_line_error(served.get("/v1/alerts/999999"), 404)
    assert "alert_id" in _one_line_error(served.get("/v1/alerts/abc"), 422)
    assert "no such path" in _one_line_error(served.get("/v1/nothing"), 404)
    assert "cow_number" in _one_line_error(served.get("/v1/scores", farm=cow[0]), 422)
    assert "no cow" in _one_line_error(served.get("/v1/scores", farm=cow[0], cow_number="no-such-cow"), 404)
    assert "no farm" in _one_line_error(served.get("/v1/scores", farm="Atlantis", cow_number=cow[1]), 404)
    assert "31 days" in _one_line_error(served.get("/v1/scores", farm=cow[0], cow_number=cow[1],
                                                   **{"from": "2026-01-01", "to": "2026-09-01"}), 422)
    body = {"farm": cow[0], "cow_number": cow[1], "use_case": "heat", "at": LATE_BUCKET.isoformat()}
    assert "use_case" in _one_line_error(served.post("/v1/score", {**body, "use_case": "colic"}), 422)
    assert "at" in _one_line_error(served.post("/v1/score", {**body, "at": "soon"}), 422)
    assert "future" in _one_line_error(served.post("/v1/score", {**body, "at": "2099-01-01T00:00Z"}), 422)
    assert "farm" in _one_line_error(served.post("/v1/score", {k: v for k, v in body.items() if k != "farm"}), 422)
    assert "no cow" in _one_line_error(served.post("/v1/score", {**body, "cow_number": "x"}), 404)
    assert "no bolus" in _one_line_error(served.post("/v1/score", {**body, "at": "2001-01-01"}), 404)
    assert "request body" in _one_line_error(served.post("/v1/score", [1, 2]), 422)
    assert "verdict" in _one_line_error(served.post("/v1/feedback", {"alert_id": 1, "verdict": "maybe"}), 422)
    assert "no alert" in _one_line_error(served.post("/v1/feedback", {"alert_id": 999999, "verdict": "confirmed"}),
                                         404)
    log = served.log_text()
    assert "Traceback" not in log and TOKEN not in log


def test_score_history_is_the_stored_champion_scores(served: Served) -> None:
    stored = _stored(served)
    cows = _cows(served)
    animal = int(stored["animal_id"].iloc[0])
    farm, cow = cows[animal]
    got = served.get("/v1/scores", farm=farm, cow_number=cow, use_case="heat",
                     **{"from": WINDOW_START.isoformat(), "to": WINDOW_END.isoformat()}).json()
    want = stored[(stored["animal_id"] == animal) & (stored["use_case"] == "heat")].sort_values("bucket_start")
    assert len(got["scores"]) == len(want) == 432
    assert [s["score"] for s in got["scores"]] == want["score"].tolist()
    assert got["scores"][0] == {"use_case": "heat", "bucket_start": WINDOW_START.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                "score": float(want["score"].iloc[0]), "model": want["model_name"].iloc[0],
                                "version": str(want["model_version"].iloc[0])}
    every = served.get("/v1/scores", farm=farm, cow_number=cow,
                       **{"from": WINDOW_START.isoformat(), "to": WINDOW_END.isoformat()}).json()["scores"]
    assert {s["use_case"] for s in every} == set(stored.loc[stored["animal_id"] == animal, "use_case"])
    # the cow number read as the importer reads it: a zero-width space an app copied along is the same cow
    look_alike = served.get("/v1/scores", farm=farm, cow_number=f"{cow}\u200b", use_case="heat",
                            **{"from": WINDOW_START.isoformat(), "to": WINDOW_END.isoformat()})
    assert look_alike.status_code == 200 and look_alike.json()["scores"] == got["scores"]
    nul = served.get("/v1/scores", farm=farm, cow_number=f"{cow}\u0001", use_case="heat")
    assert "control character" in _one_line_error(nul, 422)


def test_on_demand_score_is_the_stored_score(served: Served) -> None:
    """50 random (cow, bucket, use case) of the batch run: exactly the stored score; the late
    cow's buckets from its late bucket on (its trailing window changed) as known at the scoring."""
    stored = _stored(served)
    cows = _cows(served)
    rng = random.Random(25)
    late = stored[(stored["animal_id"] == LATE_ANIMAL) & (stored["bucket_start"] >= LATE_BUCKET)]
    first_late = late[(late["bucket_start"] == LATE_BUCKET) & (late["use_case"] == "heat")]
    picks = [stored.iloc[i] for i in rng.sample(range(len(stored)), 45)] + [first_late.iloc[0]] + \
        [late.iloc[i] for i in rng.sample(range(1, len(late)), 4)]
    checked = known = 0
    seen_late = False
    for row in picks:
        farm, cow = cows[int(row.animal_id)]
        body = {"farm": farm, "cow_number": cow, "use_case": row.use_case,
                "at": (row.bucket_start + pd.Timedelta(minutes=4)).isoformat()}
        changed = int(row.animal_id) == LATE_ANIMAL and row.bucket_start >= LATE_BUCKET
        if changed:
            now = served.post("/v1/score", body).json()
            body["as_known_at"] = served.scored_at.isoformat()
            known += 1
        got = served.post("/v1/score", body)
        assert got.status_code == 200, got.text
        answer = got.json()
        assert answer["bucket_start"] == row.bucket_start.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert answer["score"] == float(row.score), (row.to_dict(), answer)
        assert (answer["model"], answer["version"]) == (row.model_name, str(row.model_version))
        if changed and row.bucket_start == LATE_BUCKET:
            assert now["n_readings"] > answer["n_readings"] == 0  # the late readings, left out as known then
            seen_late = True
        checked += 1
    assert checked == 50 and known == 5 and seen_late


def test_access_log_one_line_per_request_with_latency(served: Served) -> None:
    marker = f"limit=3&use_case=heat&m={served.kind}"
    served.get("/v1/alerts?" + marker)
    for _ in range(50):  # the line is written once the response has gone out
        lines = [line for line in served.log_text().splitlines() if marker in line]
        if lines:
            break
        time.sleep(0.1)
    assert len(lines) == 1 and "smx.api.access" in lines[0]
    assert lines[0].split(marker, 1)[1].split()[0] == "200" and lines[0].endswith(" ms")


def test_refuses_a_network_host_without_token(served: Served) -> None:
    env = {k: v for k, v in served.env.items() if k != "SMX_API_TOKEN"}
    out = subprocess.run([sys.executable, "-m", "smx_assets.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "SMX_API_TOKEN" in out.stderr and "Traceback" not in out.stderr


def test_feedback_reaches_model_performance(served: Served) -> None:
    """A verdict posted through the API is counted by the ``model_performance`` asset (a real
    Dagster materialisation of the partition whose window holds the alert)."""
    import dagster as dg

    from smx_assets.defs.ingest.assets import SOURCE_SPECS
    from smx_assets.defs.monitoring.assets import model_performance
    from smx_assets.resources import FeatureStoreResource, HerdDbResource, MlflowResource

    heat = served.get("/v1/alerts", use_case="heat", limit=1).json()["alerts"][0]
    at = pd.Timestamp(heat["alert_time"])
    given = at + pd.Timedelta(days=1)
    first = served.post("/v1/feedback", {"alert_id": heat["alert_id"], "verdict": "confirmed",
                                         "note": "standing heat seen", "given_at": given.isoformat()})
    assert first.status_code == 201, first.text
    assert first.json()["verdict"] == "confirmed" and first.json()["given_at"].startswith(given.strftime("%Y-%m-%dT%H:%M"))
    second = served.post("/v1/feedback", {"alert_id": heat["alert_id"], "verdict": "rejected",
                                          "given_at": (given + pd.Timedelta(hours=2)).isoformat()})
    assert second.status_code == 201 and second.json()["feedback_id"] > first.json()["feedback_id"]
    assert "before the alert" in _one_line_error(served.post("/v1/feedback", {
        "alert_id": heat["alert_id"], "verdict": "confirmed", "given_at": (at - pd.Timedelta(days=1)).isoformat()}), 422)
    # the partition whose window (14 days ending 4 days before its end) holds the alert and the verdicts
    day = (at.normalize() + pd.Timedelta(days=4)).strftime("%Y-%m-%d")
    result = dg.materialize(
        [model_performance, *SOURCE_SPECS], partition_key=day,
        resources={"herd_db": HerdDbResource(url=served.herd_db_url),
                   "feature_store": FeatureStoreResource(base_path=served.features),
                   "mlflow": MlflowResource(tracking_uri=served.mlflow_uri)})
    assert result.success
    per_uc = result.asset_materializations_for_node("model_performance")[0].metadata["per_use_case"].value
    perf = per_uc["heat"][heat["version"]]
    assert perf["n_feedback"] == 2 and perf["precision_feedback"] == 0.5
    # and `smx explain` shows them
    assert [f["verdict"] for f in served.get(f"/v1/alerts/{heat['alert_id']}").json()["feedback"]] == \
        ["confirmed", "rejected"]


def test_promotion_and_rollback_picked_up_live(served: Served) -> None:
    """A challenger, a promotion and a rollback in the registry reach the running server within
    its TTL (2 s here; at most 60 s by the setting), without a restart."""
    from mlflow import MlflowClient

    from smx_assets.domain import model_registry

    stored = _stored(served)
    row = stored[(stored["use_case"] == "heat") & (stored["animal_id"] != LATE_ANIMAL)].iloc[10]
    farm, cow = _cows(served)[int(row.animal_id)]
    body = {"farm": farm, "cow_number": cow, "use_case": "heat", "at": row.bucket_start.isoformat()}
    client = MlflowClient(served.mlflow_uri, registry_uri=served.mlflow_uri)
    rule = client.get_model_version("smx-heat-rule", "1")
    version = model_registry.register(rule.run_id, "smx-heat")  # the rule as an ML line's version
    pid = served.process.pid

    def wait_for(check) -> float:  # type: ignore[no-untyped-def]
        t0 = time.monotonic()
        while time.monotonic() - t0 < 20:
            answer = served.post("/v1/score", body).json()
            if check(answer):
                return time.monotonic() - t0
            time.sleep(0.2)
        raise AssertionError(f"not picked up in 20 s: {answer}")

    try:
        client.set_registered_model_alias("smx-heat", "challenger", version)
        waited = wait_for(lambda a: a["shadow"] == [{"score": a["score"], "model": "smx-heat", "version": version}])
        assert waited < 10
        client.set_registered_model_alias("smx-heat", "champion", version)
        waited = wait_for(lambda a: (a["model"], a["version"], a["shadow"]) == ("smx-heat", version, []))
        assert waited < 10
        assert served.get("/ready").json()["models"]["heat"]["champion"] == f"smx-heat v{version}"
        assert served.post("/v1/score", body).json()["score"] == float(row.score)  # same rule: same score
    finally:
        client.delete_registered_model_alias("smx-heat", "champion")
        client.delete_registered_model_alias("smx-heat", "challenger")
    wait_for(lambda a: (a["model"], a["version"], a["shadow"]) == ("smx-heat-rule", "1", []))
    assert served.process.pid == pid and served.process.poll() is None  # no restart


def test_cow_registered_while_serving_is_found_and_requests_take_turns(served: Served) -> None:
    """The records and the cow index are read again only when the herd DB changed (its change
    token): a cow registered while the server runs is found within the TTL all the same. And
    with one computing slot a worker (the default), concurrent requests queue, none fails."""
    from concurrent.futures import ThreadPoolExecutor

    import sqlalchemy as sa

    from smx_assets.domain.herd_db import Base

    engine = make_engine(served.herd_db_url)
    farm = next(iter(_cows(served).values()))[0]
    window = {"from": WINDOW_START.isoformat(), "to": WINDOW_END.isoformat()}
    assert served.get("/v1/scores", farm=farm, cow_number="NEW-1", **window).status_code == 404
    t = Base.metadata.tables
    try:
        with engine.begin() as conn:
            farm_id = conn.execute(sa.select(t["farms"].c.id).where(t["farms"].c.name == farm)).scalar_one()
            new_id = conn.execute(sa.select(sa.func.max(t["animals"].c.id))).scalar_one() + 1  # ids written explicitly
            conn.execute(t["animals"].insert(), [{"id": new_id, "farm_id": farm_id, "ear_tag": "NEW-1-tag",
                                                  "cow_number": "NEW-1"}])
        t0 = time.monotonic()
        while (answer := served.get("/v1/scores", farm=farm, cow_number="NEW-1", **window)).status_code == 404:
            assert time.monotonic() - t0 < 15, "a registered cow was not found within the TTL"
            time.sleep(0.2)
        assert answer.status_code == 200 and answer.json()["scores"] == []

        cow = next(iter(_cows(served).values()))[1]
        hour = {"from": WINDOW_START.isoformat(), "to": (WINDOW_START + pd.Timedelta(hours=1)).isoformat()}
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: served.get("/v1/scores", farm=farm, cow_number=cow, use_case="heat",
                                                         **hour), range(8)))
        assert [a.status_code for a in answers] == [200] * 8
        assert all(len(a.json()["scores"]) == 6 for a in answers)  # the hour's 6 buckets, each time
    finally:
        with engine.begin() as conn:
            conn.execute(t["animals"].delete().where(t["animals"].c.cow_number == "NEW-1"))
        engine.dispose()
