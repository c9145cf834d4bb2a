"""Which hosts are live venues, which are loopback, and whether a simulator URL is safe.

Live hosts come from the adapters' :class:`~peaktrade.adapters.base.Capabilities` (``live_hosts``,
exact names or ``*.domain`` patterns), never from user config: a setting can add hosts a session may
reach, but it can never turn a live host into a testnet host or a simulator. The same functions are
used when the config is loaded and again at the request boundary (the adapter's transport and
:meth:`peaktrade.safety.SafetyGuard.check_endpoint`), on the URL actually about to be sent.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from peaktrade.adapters.base import Capabilities

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def venue_capabilities() -> tuple[Capabilities, ...]:
    """Return the capabilities of every venue peaktrade has an adapter for."""
    from peaktrade.adapters.kraken.client import KRAKEN_CAPABILITIES

    return (KRAKEN_CAPABILITIES,)


def normalize_host(host: str) -> str:
    """Return ``host`` as it is reached on the wire: lower-cased, without brackets, a trailing dot or space.

    Percent-escapes are decoded (HTTP clients do: ``requests`` sends ``https://api%2ekraken.com`` to
    ``api.kraken.com``) and a non-ASCII name is IDNA-mapped (``ａｐｉ。kraken。com`` is ``api.kraken.com``),
    so an encoded spelling of a live host is still recognized as live.
    """
    h = unquote(str(host).strip()).strip().strip("[]")
    if not h.isascii():
        try:
            h = h.encode("idna").decode("ascii")
        except UnicodeError:
            h = unicodedata.normalize("NFKC", h)
    return h.lower().rstrip(".")


def _matches(host: str, pattern: str) -> bool:
    pattern = normalize_host(pattern)
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) or host == pattern[2:]
    return host == pattern


def live_venue_of(host: str | None) -> str | None:
    """Return the venue whose live API ``host`` belongs to (None: not a known live host)."""
    if not host:
        return None
    h = normalize_host(host)
    for cap in venue_capabilities():
        if any(_matches(h, p) for p in cap.live_hosts):
            return cap.venue
    return None


def is_loopback_host(host: str | None) -> bool:
    """True only for loopback: 127.0.0.0/8, ::1 (also IPv4-mapped), ``localhost``."""
    if not host:
        return False
    h = normalize_host(host)
    if h in LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def url_host(url: str) -> str | None:
    """Return the normalized host of ``url`` (None when it has none or cannot be parsed)."""
    try:
        parts = urlsplit(str(url).strip())
        parts.port  # noqa: B018 — raises ValueError on a malformed port
        return normalize_host(parts.hostname) if parts.hostname else None
    except ValueError:
        return None


def base_url_problem(url: str) -> str | None:
    """Return why ``url`` cannot be an API base URL (None when it can).

    A base URL is ``scheme://host[:port][/path]``: a query (``?``), a fragment (``#``) or user info
    (``user@``) would move the path ccxt appends (``/0/private/AddOrder``) out of the URL's path, where
    the private-endpoint checks could no longer see it.
    """
    text = str(url).strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018
    except ValueError as e:
        return f"is not a valid URL ({e})"
    if parts.scheme.lower() not in ("http", "https"):
        return "is not an http(s) URL"
    if not parts.hostname:
        return "has no host"
    if "?" in text or "#" in text:
        return "contains '?' or '#' (expected scheme://host[:port][/path])"
    if "@" in parts.netloc:
        return "contains user info '@' (expected scheme://host[:port][/path])"
    if "%" in parts.netloc or not parts.netloc.isascii():
        return "has a percent-encoded or non-ASCII host (expected scheme://host[:port][/path], host in plain ASCII)"
    return None


def sim_url_problem(url: str, sim_hosts: Iterable[str] = ()) -> str | None:
    """Return why ``url`` cannot be a simulator's URL (None when it can).

    A simulator URL is a valid base URL whose host is loopback, or is named in ``sim_hosts`` (an
    explicit setting); a live venue host never is, whatever ``sim_hosts`` says.
    """
    bad = base_url_problem(url)
    return bad if bad is not None else sim_host_problem(url_host(url) or "", sim_hosts)


def sim_host_problem(host: str, sim_hosts: Iterable[str] = ()) -> str | None:
    """Return why ``host`` cannot be a simulator's host (None when it can): see :func:`sim_url_problem`."""
    host = normalize_host(host)
    venue = live_venue_of(host)
    if venue is not None:
        return f"host {host} is a live {venue} host: a simulator is never a live venue"
    if not is_loopback_host(host) and host not in {normalize_host(h) for h in sim_hosts}:
        return (f"host {host} is not loopback (127.0.0.0/8, ::1, localhost): name it in [testnet] sim_hosts "
                "to use a simulator on another host")
    return None


__all__ = ["base_url_problem", "is_loopback_host", "live_venue_of", "normalize_host", "sim_host_problem",
           "sim_url_problem", "url_host", "venue_capabilities"]
