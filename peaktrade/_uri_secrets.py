"""Where a password hides in a database or tracking URI: the one helper behind every refusal and redaction of one.

A password is looked for the way each consumer parses the URI, and in every form any of them reads:

- SQLAlchemy (MLflow's stores): ``scheme://user:PASSWORD@host``, where the password runs to the first ``@``, across
  ``/`` and ``?`` (``urlsplit`` would end the user info at the ``/`` and see no password at all);
- urllib / requests (``http://`` tracking servers): the user info of the network location;
- libpq (psycopg): a ``password`` (or ``sslpassword``) query parameter, ``?user=u&password=S``, and the
  ``key=value`` conninfo form (``host=h password='S'``); keys and values may be percent-encoded.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus

MASK = "***"
#: Parameter names of a password: libpq's ``password`` / ``sslpassword``, MySQL drivers' ``passwd`` / ``pwd``.
_PASSWORD_KEYS = frozenset({"password", "sslpassword", "passwd", "pwd"})
#: SQLAlchemy's URL pattern (sqlalchemy/engine/url.py) up to the end of the user info.
_URLLIB_SCHEMES = ("http://", "https://")
_SQLA_USERINFO = re.compile(r"\s*[\w+]+://[^:/]*:(?P<password>[^@]*)@")
#: ``key=value`` of a URI query or a libpq conninfo string (``key = 'quoted value'`` too).
_PARAM = re.compile(r"(?:^|(?<=[?&;\s]))(?P<key>[^=&;?\s]+)[ \t]*=[ \t]*(?P<value>'(?:[^'\\]|\\.)*'|[^&;\s#]*)")


def _spans(uri: str) -> list[tuple[int, int]]:
    """Return the ``(start, end)`` of every password in ``uri`` as written, merged where they overlap."""
    spans = []
    m = _SQLA_USERINFO.match(uri)
    if m and not uri.lstrip().lower().startswith(_URLLIB_SCHEMES):  # an http(s) server is read by urllib
        spans.append(m.span("password"))
    scheme_end = uri.find("://")
    if scheme_end >= 0:  # urlsplit: the netloc ends at the first / ? #; its user info at the last @
        start = scheme_end + 3
        end = min((i for i in (uri.find(c, start) for c in "/?#") if i >= 0), default=len(uri))
        at = uri.rfind("@", start, end)
        colon = uri.find(":", start, at) if at >= 0 else -1
        if colon >= 0:
            spans.append((colon + 1, at))
    for p in _PARAM.finditer(uri):
        if unquote_plus(p["key"]).strip().lower() in _PASSWORD_KEYS:
            spans.append(p.span("value"))
    merged: list[tuple[int, int]] = []
    for s, e in sorted(x for x in spans if x[1] > x[0]):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def _sqlalchemy_password(uri: str) -> str | None:
    """Return the password SQLAlchemy itself reads from ``uri`` (user info or query), None for none."""
    if uri.lstrip().lower().startswith(_URLLIB_SCHEMES):
        return None
    if "@" not in uri and "=" not in uri:
        # SQLAlchemy reads a password only from user info (ends at an ``@``) or a query ``key=value``: none here,
        # so it is not imported (a third of a second) for every plain ``sqlite:///`` or path URI a config holds
        return None
    try:
        from sqlalchemy.engine import make_url

        url = make_url(uri)
    except Exception:  # not a SQLAlchemy URL (http://, a conninfo string), or SQLAlchemy absent
        return None
    query = {k.lower(): v for k, v in url.query.items()}
    found = [url.password, *(query.get(k) for k in _PASSWORD_KEYS)]
    flat = [x for v in found for x in ([v] if isinstance(v, str) or v is None else v)]
    return next((str(x) for x in flat if x), None)


def uri_passwords(uri: str) -> list[str]:
    """Return every password in ``uri``: as written and decoded (percent-encoding, conninfo quotes); empty: none."""
    out: list[str] = []
    for s, e in _spans(uri):
        raw = uri[s:e]
        forms = [raw, unquote(raw), unquote_plus(raw)]
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":
            forms.append(re.sub(r"\\(.)", r"\1", raw[1:-1]))
        out += [f for f in dict.fromkeys(forms) if f and f not in out]
    pw = _sqlalchemy_password(uri)
    if pw and pw not in out:
        out.append(pw)
    return out


def has_password(uri: str) -> bool:
    """Return True when ``uri`` holds a password in any form a consumer reads (see the module)."""
    return bool(uri_passwords(uri))


def redact_uri(uri: str) -> str:
    """Return ``uri`` with every password masked (for messages, logs and printed commands)."""
    spans = _spans(uri)
    out = uri
    for s, e in reversed(spans):
        out = out[:s] + MASK + out[e:]
    if not spans and _sqlalchemy_password(uri):  # fail closed: a password found where no span was
        return uri.split("://", 1)[0] + "://" + MASK
    return out


def mask_passwords(text: str, uri: str) -> str:
    """Return ``text`` (e.g. a driver's error message about ``uri``) with every password of ``uri`` masked."""
    for pw in sorted(uri_passwords(uri), key=len, reverse=True):
        text = text.replace(pw, MASK)
    return text
