"""The one URL-masking rule: passwords with ``#``, ``/``, ``?``, ``@``, ``%`` (encoded or not),
secret query values, every URL kind the project takes, free text and exception chains."""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest
import requests
import sqlalchemy as sa

from smx_assets.domain import redaction
from smx_assets.domain.redaction import (
    credentials,
    mask_url,
    normalise_url,
    redact,
    redact_exception,
    register_url,
    split_url,
)

PASSWORDS = ["Hunter2#Zq", "a/b?c#d@e%f", "pa:ss@w0rd", "100%sure", "pl@in", "sp ace", "Ü-ñ€"]
TEMPLATES = [
    "influxdb://admin:{pw}@127.0.0.1:18186/smx",
    "influxdbs://admin:{pw}@influx.example:8086/smx?timeout=5",
    "postgresql+psycopg2://smx:{pw}@db.example:5432/smx_herd",
    "http://mluser:{pw}@127.0.0.1:18777",
    "https://mluser:{pw}@mlflow.example/prefix/",
    "s3://key:{pw}@bucket/features",
    "sftp://farm:{pw}@[::1]:2222/features",
]


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("pw", PASSWORDS)
@pytest.mark.parametrize("encoded", [False, True])
def test_mask_url_hides_every_password_spelling(template: str, pw: str, encoded: bool) -> None:
    written = quote(pw, safe="") if encoded else pw
    url = template.format(pw=written)
    masked = mask_url(url)
    assert pw not in masked and written not in masked
    host = split_url(template.format(pw="x")).hostport  # type: ignore[union-attr]
    assert f":***@{host}" in masked
    assert credentials(url)[1] == pw
    # The normalised URL parses with strict parsers to the same password.
    if template.startswith("postgresql"):
        assert sa.make_url(normalise_url(url)).password == pw


def test_secret_query_values_and_plain_paths() -> None:
    assert mask_url("influxdb://h:8086/db?token=abcd1234&timeout=5") == "influxdb://h:8086/db?token=***&timeout=5"
    assert mask_url("/var/lib/smx/features") == "/var/lib/smx/features"
    assert mask_url("sqlite:////tmp/x@y/herd.db").endswith("herd.db")
    assert mask_url("http://user@host:5000") == "http://user@host:5000"  # no password: nothing to hide


def test_redact_free_text_and_registered_secrets() -> None:
    pw = "Canary#9/q?z@X%"
    url = f"http://mluser:{pw}@127.0.0.1:18777"
    text = f"API request to {url}/api/2.0/mlflow/runs/get failed; password={quote(pw, safe='')}"
    assert pw not in redact(text, [url]) and quote(pw, safe="") not in redact(text, [url])
    register_url(url)
    # A library that quotes only the password, or the decoded password, is caught too.
    assert redact(f"auth failed for '{pw}'") == "auth failed for '***'"
    assert redact(f"auth failed for {quote(pw, safe='')}") == "auth failed for ***"


def test_redact_exception_chain_keeps_types() -> None:
    pw = "Chain#Pw/12?"
    url = f"http://u:{pw}@127.0.0.1:1/api"
    try:
        try:
            raise requests.ConnectionError(f"Max retries exceeded with url: {url}")
        except requests.ConnectionError as inner:
            raise RuntimeError(f"API request to {url} failed") from inner
    except RuntimeError as exc:
        out = redact_exception(exc)
    assert isinstance(out, RuntimeError) and isinstance(out.__cause__, requests.ConnectionError)
    assert pw not in str(out) and pw not in str(out.__cause__)
    assert "u:***@127.0.0.1:1" in str(out)


def test_log_records_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    redaction.install_log_redaction()
    pw = "L0g#Secret/x"
    with caplog.at_level(logging.INFO):
        logging.getLogger("smx.test").info("connecting to %s", f"influxdb://a:{pw}@h:1/db")
        try:
            raise ValueError(f"bad url influxdb://a:{pw}@h:1/db")
        except ValueError:
            logging.getLogger("smx.test").exception("failed")
    assert pw not in caplog.text and "a:***@h:1" in caplog.text


def test_registered_token_is_masked_in_free_text_and_settings_keep_it_out_of_repr() -> None:
    from smx_assets.domain.redaction import redact, register_secret
    from smx_assets.settings import Settings

    token = "api-token-a1b2c3/d4+e5"
    register_secret(token, "abc")  # too short to register: "abc" stays in ordinary words
    assert redact(f"header Bearer {token} and quoted api-token-a1b2c3%2Fd4%2Be5") == \
        "header Bearer *** and quoted ***"
    assert redact("abc") == "abc"
    other = "second-token-" + "9" * 20
    settings = Settings.from_env({"SMX_API_TOKEN": other}, create_home=False)
    assert settings.api.token == other and other not in repr(settings)
    assert redact(f"log line {other}") == "log line ***"  # from_env registered it
