"""One masking rule for every URL the project is given, and for any text that may carry one.

Herd DB, sensor store, MLflow tracking/registry and the features path are all URLs that can
hold a password (``scheme://user:password@host/...``) or a secret query value (``?token=``).
Anything that may reach a person or a store outside the one that needs the secret — our
messages, log records, exception texts, Dagster metadata, the Dagster event log and compute
logs — goes through :func:`mask_url` (one URL) or :func:`redact` (free text).

Why not ``urllib.parse.urlsplit``: people paste passwords unencoded, and an unencoded ``#``,
``/`` or ``?`` in the password ends the authority for a strict parser, so the password lands in
the "path" or "fragment" and was shown in full. Here the authority is found from the *last*
``@`` that is followed by something shaped like ``host[:port]``, so ``#``, ``/``, ``?``, ``@``
and ``%`` inside a password (percent-encoded or not) are all masked.

Free text is masked twice over: every ``scheme://...`` token is masked by shape, and every
secret of a URL the process was configured with (:func:`register_url`) is replaced wherever it
occurs, raw or percent-encoded — libraries quote URLs in pieces (``host`` here, ``password``
there) and a shape rule alone cannot catch those.

Pure Python, no Dagster: the Dagster layer and the CLI call it; :func:`install_log_redaction`
masks every log record of the process.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, unquote

MASK = "***"
# Query parameters whose value is a secret (lower-case); InfluxDB's ``p``/``token``, SAS, S3 signatures.
SECRET_PARAMS = frozenset({
    "password", "passwd", "pwd", "pass", "p", "token", "u_token", "access_token", "auth_token",
    "api_key", "apikey", "secret", "client_secret", "sig", "signature", "x-amz-signature",
    "x-amz-security-token", "sas", "key",
})
# Shortest registered secret replaced in free text: shorter strings would mask ordinary words.
MIN_SECRET_LEN = 4

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_HOSTPORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=\-]*)(:\d*)?$")
# A URL inside free text: a scheme, "://", then anything up to white space or a closing quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")


@dataclass(frozen=True)
class UrlParts:
    """A URL split the tolerant way: ``scheme://[user[:password]@]hostport rest``.

    ``user``/``password`` are exactly as written (possibly percent-encoded); ``rest`` is the
    path, query and fragment, starting with ``/``, ``?`` or ``#`` (or empty).
    """

    scheme: str
    user: str | None
    password: str | None
    hostport: str
    rest: str


def split_url(url: str) -> UrlParts | None:
    """Split ``url``; None when it has no ``scheme://`` (a plain path, say)."""
    m = _SCHEME.match(url)
    if not m:
        return None
    scheme, body = m.group(1), url[m.end():]
    user = password = None
    at = _authority_at(body)
    if at is not None:
        userinfo, body = body[:at], body[at + 1:]
        user, sep, pw = userinfo.partition(":")
        password = pw if sep else None
    cut = min([i for i in (body.find("/"), body.find("?"), body.find("#")) if i >= 0], default=len(body))
    return UrlParts(scheme, user, password, body[:cut], body[cut:])


def _authority_at(body: str) -> int | None:
    """Index of the ``@`` ending the userinfo: the last one followed by ``host[:port]``."""
    for i in range(len(body) - 1, -1, -1):
        if body[i] != "@":
            continue
        after = body[i + 1:]
        cut = min([j for j in (after.find("/"), after.find("?"), after.find("#")) if j >= 0], default=len(after))
        if "@" not in after[:cut] and _HOSTPORT.match(after[:cut]):
            return i
    return None


def normalise_url(url: str) -> str:
    """``url`` with user and password percent-encoded, so strict parsers (``urlsplit``,
    SQLAlchemy, requests) read them as written. Already-encoded values stay as they are."""
    parts = split_url(url)
    if parts is None or parts.user is None:
        return url
    userinfo = quote(unquote(parts.user), safe="")
    if parts.password is not None:
        userinfo += ":" + quote(unquote(parts.password), safe="")
    return f"{parts.scheme}://{userinfo}@{parts.hostport}{parts.rest}"


def credentials(url: str) -> tuple[str | None, str | None]:
    """(user, password) of ``url``, percent-decoded."""
    parts = split_url(url)
    if parts is None:
        return None, None
    return (unquote(parts.user) if parts.user is not None else None,
            unquote(parts.password) if parts.password is not None else None)


def without_credentials(url: str) -> str:
    """``url`` with its userinfo removed (secret query values are kept: the caller needs them)."""
    parts = split_url(url)
    if parts is None or parts.user is None:
        return url
    return f"{parts.scheme}://{parts.hostport}{parts.rest}"


def _mask_query(rest: str) -> str:
    q = rest.find("?")
    if q < 0:
        return rest
    head, tail = rest[:q + 1], rest[q + 1:]
    frag = ""
    h = tail.find("#")
    if h >= 0:
        tail, frag = tail[:h], tail[h:]
    pairs = []
    for item in tail.split("&"):
        key, sep, _value = item.partition("=")
        pairs.append(f"{key}={MASK}" if sep and unquote(key).lower() in SECRET_PARAMS else item)
    return head + "&".join(pairs) + frag


def mask_url(url: str) -> str:
    """``url`` with its password and secret query values replaced by ``***``.

    The user name and host stay (they say *which* account and server failed); a URL without
    a scheme (a local path) is returned unchanged.
    """
    parts = split_url(url)
    if parts is None:
        return url
    userinfo = ""
    if parts.user is not None:
        userinfo = parts.user + (f":{MASK}" if parts.password is not None else "") + "@"
    return f"{parts.scheme}://{userinfo}{parts.hostport}{_mask_query(parts.rest)}"


def secrets_of(url: str) -> set[str]:
    """Every spelling of the secrets in ``url`` (as written, decoded, percent-encoded)."""
    parts = split_url(url)
    if parts is None:
        return set()
    found: set[str] = set()
    if parts.password:
        found.add(parts.password)
    q = parts.rest.find("?")
    if q >= 0:
        for item in parts.rest[q + 1:].split("#", 1)[0].split("&"):
            key, sep, value = item.partition("=")
            if sep and value and unquote(key).lower() in SECRET_PARAMS:
                found.add(value)
    spelled = set()
    for s in found:
        raw = unquote(s)
        spelled |= {s, raw, quote(raw, safe=""), quote_plus(raw, safe=""), quote(raw)}
    return {s for s in spelled if len(s) >= MIN_SECRET_LEN}


_lock = threading.Lock()
_registered: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_url(*urls: str | None) -> None:
    """Remember the secrets of ``urls`` so :func:`redact` replaces them in any text."""
    _register(set().union(*(secrets_of(u) for u in urls if u)))


def register_secret(*values: str | None) -> None:
    """Remember secrets that are no URL (the API's bearer token) so :func:`redact` replaces them
    in any text, as written and percent-encoded (a value shorter than ``MIN_SECRET_LEN`` is not
    registered: it would mask ordinary words)."""
    spelled: set[str] = set()
    for v in values:
        if v:
            spelled |= {v, quote(v, safe=""), quote_plus(v, safe="")}
    _register({s for s in spelled if len(s) >= MIN_SECRET_LEN})


def _register(new: set[str]) -> None:
    global _pattern
    with _lock:
        if new <= _registered:
            return
        _registered.update(new)
        # Longest first: a secret that contains another is replaced whole.
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_registered, key=len, reverse=True)))


def redact(text: str, urls: Iterable[str] = ()) -> str:
    """``text`` with every URL masked and every registered (and given) secret replaced."""
    if not text:
        return text
    extra = set().union(*(secrets_of(u) for u in urls)) if urls else set()
    out = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
    if _pattern is not None:
        out = _pattern.sub(MASK, out)
    for s in sorted(extra, key=len, reverse=True):
        out = out.replace(s, MASK)
    return out


def error_line(exc: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message`` (cut to ``limit`` characters), masked: how an error
    is told in one line of a report, where a traceback or a password must never appear."""
    first = str(exc).splitlines()[0][:limit] if str(exc) else "no detail"
    return redact(f"{type(exc).__name__}: {first}")


def redact_exception(exc: BaseException) -> BaseException:
    """Mask secrets in ``exc`` and its whole cause/context chain, in place.

    Types are kept (callers and Dagster's retry policies still see an ``OperationalError``);
    ``args`` and the attributes libraries format their message from are rewritten. Returns
    ``exc`` for ``raise redact_exception(e)``.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        try:
            e.args = tuple(redact(a) if isinstance(a, str) else _redact_arg(a) for a in e.args)
            for attr in ("message", "msg", "strerror", "detail", "orig_message"):
                value = getattr(e, attr, None)
                if isinstance(value, str):
                    setattr(e, attr, redact(value))
        except (AttributeError, TypeError):  # an exception type with read-only fields
            pass
        todo += [e.__cause__, e.__context__, getattr(e, "orig", None)]
    return exc


def _redact_arg(arg: object) -> object:
    """Nested exceptions (urllib3's MaxRetryError inside requests' ConnectionError) in args."""
    if isinstance(arg, BaseException):
        return redact_exception(arg)
    for attr in ("url", "host"):
        value = getattr(arg, attr, None)
        if isinstance(value, str) and redact(value) != value:
            try:
                setattr(arg, attr, redact(value))
            except (AttributeError, TypeError):
                pass
    return arg


_installed = False


def install_log_redaction() -> None:
    """Mask every log record of this process at creation (message, arguments and traceback).

    A record factory rather than a handler filter: Dagster and MLflow add their own handlers
    at run time, and a factory covers records of every logger and every handler.
    """
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the logger's problem, not ours
            return record
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            redact_exception(record.exc_info[1])
        return record

    logging.setLogRecordFactory(factory)
