"""Alert delivery through apprise, off the order path: a queue, one worker thread, retries, a dead-letter file.

:meth:`AlertDispatcher.submit` only filters by rule and puts the event on a queue (never blocks, never
raises); the worker thread applies de-duplication and the rate limit, sends to every destination with
retries and exponential backoff, and appends what could not be delivered to the dead-letter file (JSON
lines). Destinations are apprise URLs from ``PEAKTRADE_ALERT_URLS``: they hold secrets (tokens, passwords),
so they are never logged, printed, put in exceptions or payloads — only :func:`redact` (the scheme, plus the
host where it is a real hostname) is.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from peaktrade.alerts.events import Event, EventKind, Severity
from peaktrade.errors import PeakTradeError

if TYPE_CHECKING:
    from peaktrade.config import AlertsConfig, Config

#: The dead-letter file, in the safety state directory (one per user, like the kill switch).
DEAD_LETTER_FILE = "alerts_dead_letter.jsonl"
#: Queued alerts beyond this are dropped (and counted): a flood must never grow memory without bound.
QUEUE_MAX = 10_000


class AlertError(PeakTradeError):
    """Alert destinations or rules are invalid (the message never holds a destination URL)."""


# -- destinations ---------------------------------------------------------------------------------
#: Schemes whose host is a real hostname (a webhook or mail server), never a token: their label shows it.
#: Every other apprise scheme may carry a secret in the host (``pbul://TOKEN``, ``tgram://BOT:TOKEN/...``,
#: ``slack://TokenA/...``, ``pover://USER@TOKEN``), so its label is the scheme and the URL's position only.
#: (Slack's own ``https://hooks.slack.com/services/...`` form is an https URL: its token is in the path.)
HOST_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos", "http", "https"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,15})://")


def redact(url: str, index: int | None = None) -> str:
    """Return what may be shown of an apprise URL: ``scheme://host[:port]`` for the schemes of
    :data:`HOST_SCHEMES`, else the scheme and ``index`` (its position in ``PEAKTRADE_ALERT_URLS``), e.g.
    ``pbul#2``. Never a user, password, path, query or a host that may be a token."""
    m = _SCHEME.match(url.strip())
    scheme = m.group(1).lower() if m else "?"
    if scheme in HOST_SCHEMES:
        try:
            parts = urlsplit(url.strip())
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            host = port = ""
        if host:
            return f"{scheme}://{host}{port}"
    return f"{scheme}#{index}" if index is not None else scheme


def shown_label(label: str | None) -> str | None:
    """Return ``label`` as it may be shown: a stored label in the old ``scheme://host`` form, whose host may
    be a token, is redacted again (dead-letter files written before labels hid token hosts)."""
    return redact(label) if label and "://" in label else label


@dataclass(frozen=True)
class Destination:
    """One apprise URL (secret) and what may be shown of it."""

    url: str
    label: str

    def __repr__(self) -> str:  # never the URL, even in a traceback or a debugger
        return f"Destination({self.label})"


def parse_destinations(raw: str | None) -> list[Destination]:
    """Return the destinations of a comma-separated list of apprise URLs (empty entries ignored)."""
    out = []
    for i, item in enumerate((raw or "").split(","), start=1):
        url = item.strip()
        if not url:
            continue
        if "://" not in url:
            raise AlertError(f"PEAKTRADE_ALERT_URLS entry {i} is not an apprise URL (expected scheme://...; "
                             "e.g. json://host/path, slack://..., tgram://..., mailto://...)")
        out.append(Destination(url, redact(url, i)))
    return out


def destinations_from_config(cfg: Config) -> list[Destination]:
    """Return the destinations of ``cfg`` (``PEAKTRADE_ALERT_URLS`` from the environment or ``.env``)."""
    secret = cfg.secrets.alert_urls
    return parse_destinations(secret.get_secret_value() if secret is not None else None)


def _with_timeout(url: str, timeout: float) -> str:
    """Add apprise's connect/read timeouts (``cto``/``rto``) unless the URL sets them."""
    parts = urlsplit(url)
    q = dict(parse_qsl(parts.query, keep_blank_values=True))
    q.setdefault("cto", f"{timeout:g}")
    q.setdefault("rto", f"{timeout:g}")
    return urlunsplit(parts._replace(query=urlencode(q)))


def _quiet_apprise() -> None:
    # apprise logs requests with their URLs (tokens live in paths): keep its log out of ours
    lg = logging.getLogger("apprise")
    lg.propagate = False
    lg.setLevel(logging.CRITICAL + 1)


@dataclass(frozen=True)
class SendResult:
    """The outcome of sending to one destination."""

    destination: str  # the redacted label
    ok: bool
    attempts: int
    error: str | None = None


def apprise_send(dest: Destination, title: str, body: str, severity: Severity, *, timeout: float) -> None:
    """Send one notification with apprise; raise :class:`AlertError` (no URL in it) when it fails."""
    import apprise

    _quiet_apprise()
    # send in the calling thread (the destination's daemon lane): apprise's own executor threads are joined
    # at interpreter exit, so a hanging destination would hold the process past the exit grace
    ap = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False, service_timeout=0))
    if not ap.add(_with_timeout(dest.url, timeout)):
        raise AlertError("apprise does not accept this URL (unknown scheme or bad format)")
    kind = (apprise.NotifyType.FAILURE if severity >= Severity.ERROR else
            apprise.NotifyType.WARNING if severity >= Severity.WARNING else apprise.NotifyType.INFO)
    if not ap.notify(title=title, body=body, notify_type=kind):
        raise AlertError("delivery failed (destination unreachable, refused or timed out)")


Sender = Callable[[Destination, str, str, Severity], None]


# -- rules ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertRules:
    """Which events alert (``kinds``, empty: all; ``min_severity``) and how often (rate limit, de-dup)."""

    kinds: frozenset[EventKind] = frozenset()
    min_severity: Severity = Severity.WARNING
    rate_limit_per_minute: int = 20
    dedup_seconds: float = 300.0

    @classmethod
    def from_config(cls, a: AlertsConfig) -> AlertRules:
        try:
            kinds = frozenset(EventKind(k) for k in a.events)
        except ValueError:
            bad = next(k for k in a.events if k not in {e.value for e in EventKind})
            raise AlertError(f"[alerts] events has {bad!r}: expected event kinds among "
                             f"{', '.join(e.value for e in EventKind)}") from None
        return cls(kinds, Severity.parse(a.min_severity), a.rate_limit_per_minute, a.dedup_seconds)

    def matches(self, ev: Event) -> bool:
        return ev.severity >= self.min_severity and (not self.kinds or ev.kind in self.kinds)


def format_body(ev: Event) -> str:
    """Return the alert text: the message, then the event's fields (plain JSON data, no secrets)."""
    lines = [ev.message] if ev.message else []
    lines.append(f"kind: {ev.kind.value}  severity: {ev.severity.label}  run: {ev.run_id}")
    if ev.environment:
        lines.append(f"environment: {ev.environment}")
    lines.append(f"at: {ev.wall}" + (f" (market time {ev.time})" if ev.time else ""))
    if ev.payload:
        lines.append(json.dumps(dict(ev.payload), default=str, sort_keys=True)[:2000])
    return "\n".join(lines)


# -- the dispatcher -------------------------------------------------------------------------------
_LIVE: weakref.WeakSet[AlertDispatcher] = weakref.WeakSet()


#: The dead-letter error of alerts still queued or being sent when the process ends.
UNDELIVERED_AT_EXIT = "undelivered at exit"


@atexit.register
def _drain_at_exit() -> None:
    """Give every dispatcher its ``exit_grace`` from one common start (the graces overlap, they do not add up),
    then dead-letter what is still queued or in flight: the daemon workers die with the process."""
    live = list(_LIVE)
    start = time.monotonic()
    for d in live:
        d._stop_taking()
    for d in sorted(live, key=lambda d: d.exit_grace):
        d.close(wait=max(0.0, start + d.exit_grace - time.monotonic()))
    for d in live:
        d.abandon(UNDELIVERED_AT_EXIT)


class AlertDispatcher:
    """Deliver alert events to apprise destinations from a worker thread.

    Parameters
    ----------
    destinations
        Where alerts go.
    rules
        Which events alert and how often.
    dead_letter
        JSON-lines file receiving alerts that could not be delivered (or were rate-limited), without
        destination URLs (labels only).
    retries, timeout, backoff
        Attempts per destination, seconds per attempt, first backoff in seconds (doubling).
    send
        Replaces :func:`apprise_send` (unit tests).
    exit_grace
        At interpreter exit, wait at most this long for queued alerts.
    """

    def __init__(self, destinations: Sequence[Destination], rules: AlertRules = AlertRules(), *,
                 dead_letter: Path | None = None, retries: int = 3, timeout: float = 5.0, backoff: float = 0.5,
                 send: Sender | None = None, exit_grace: float = 10.0,
                 on_result: Callable[[Event, SendResult], None] | None = None) -> None:
        self.destinations = list(destinations)
        self.rules = rules
        self.dead_letter = dead_letter
        self.retries, self.timeout, self.backoff = retries, timeout, backoff
        self._warm = send is None and bool(self.destinations)
        self._send = send or (lambda d, t, b, s: apprise_send(d, t, b, s, timeout=self.timeout))
        self.exit_grace = exit_grace
        self.on_result = on_result
        self._q: queue.Queue[Event | None] = queue.Queue(QUEUE_MAX)
        self._sent: deque[float] = deque()
        self._seen: dict[tuple[str, str, str], float] = {}
        self._stop = threading.Event()
        self._abandoned = threading.Event()  # set at exit: workers dead-letter instead of sending
        self.dropped = 0
        self.delivered = 0
        self.failed = 0
        self._dead_lock = threading.Lock()
        # one front thread (rules over time: de-dup, rate limit), then one lane per destination, so a hanging
        # destination delays neither the session nor the alerts to the other destinations
        self._lanes = [_Lane(self, d) for d in self.destinations]
        self._thread = threading.Thread(target=self._run, name="peaktrade-alerts", daemon=True)
        self._thread.start()
        _LIVE.add(self)

    @classmethod
    def from_config(cls, cfg: Config, **kw: Any) -> AlertDispatcher | None:
        """Return the dispatcher of ``cfg``, or None when alerts are off or no destination is set."""
        a = cfg.alerts
        dests = destinations_from_config(cfg)
        if not a.enabled or not dests:
            return None
        return cls(dests, AlertRules.from_config(a), dead_letter=cfg.state_dir / DEAD_LETTER_FILE,
                   retries=a.retries, timeout=a.timeout_seconds, exit_grace=a.exit_grace_seconds, **kw)

    # -- the caller's side: never blocks ------------------------------------------------------------
    def submit(self, ev: Event) -> bool:
        """Queue ``ev`` when the rules select it; return whether it was queued. Never blocks, never raises."""
        if self._stop.is_set() or not self.rules.matches(ev):
            return False
        try:
            self._q.put_nowait(ev)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def close(self, *, wait: float | None = 0.0) -> None:
        """Stop taking alerts; the workers deliver what is queued; wait at most ``wait`` seconds for them here.

        ``wait=0`` returns at once (the workers, daemon threads, keep delivering; the exit handler waits for
        them at most ``exit_grace`` seconds, then dead-letters what is still queued or being sent, with
        error ``undelivered at exit``); those a worker gave up on are in the dead-letter file too.
        """
        self._stop_taking()
        threads = [self._thread, *(lane.thread for lane in self._lanes)]
        if wait:
            deadline = time.monotonic() + wait
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
        if not any(t.is_alive() for t in threads):
            _LIVE.discard(self)

    def _stop_taking(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            try:
                self._q.put_nowait(None)
            except queue.Full:
                pass

    def abandon(self, error: str) -> int:
        """Dead-letter every alert still queued (front and lanes) or being sent, with ``error``; return how
        many lines were written. From then on the workers dead-letter whatever they take instead of sending.
        Called at process exit after the grace (an alert is never silently lost)."""
        self._abandoned.set()
        n = 0
        while True:
            try:
                ev = self._q.get_nowait()
            except queue.Empty:
                break
            if ev is not None:  # not yet split into lanes: one line, no destination
                n += self._dead(ev, None, error, 0)
            self._q.task_done()
        for lane in self._lanes:
            n += lane.abandon(error)
        return n

    def join(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is handled (sent or dead-lettered); return whether it was."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._q.unfinished_tasks or any(lane.q.unfinished_tasks for lane in self._lanes):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    # -- the workers --------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            ev = self._q.get()
            try:
                if ev is None:
                    if self._q.empty():
                        for lane in self._lanes:
                            lane.q.put(None)
                        return
                    self._q.put_nowait(None)  # items queued before the stop marker still go out
                    continue
                if self._abandoned.is_set():
                    self._dead(ev, None, UNDELIVERED_AT_EXIT, 0)
                    continue
                self._handle(ev)
            except Exception as e:  # noqa: BLE001 — the worker must survive anything
                self._dead(ev, None, f"internal error: {type(e).__name__}", 0)
            finally:
                self._q.task_done()

    def _throttled(self, ev: Event) -> str | None:
        now = time.monotonic()
        key = (ev.run_id, ev.kind.value, ev.message)
        if self.rules.dedup_seconds > 0:
            last = self._seen.get(key)
            if last is not None and now - last < self.rules.dedup_seconds:
                return "duplicate"
        while self._sent and now - self._sent[0] >= 60.0:
            self._sent.popleft()
        if len(self._sent) >= self.rules.rate_limit_per_minute:
            return "rate_limited"
        self._seen[key] = now
        self._sent.append(now)
        return None

    def _handle(self, ev: Event) -> None:
        why = self._throttled(ev)
        if why == "duplicate":
            return
        if why is not None:
            self._dead(ev, None, why, 0)
            return
        title, body = ev.title, format_body(ev)
        for lane in self._lanes:
            lane.q.put((ev, title, body))

    def _deliver(self, d: Destination, ev: Event, title: str, body: str, *,
                 still_mine: Callable[[], bool] = lambda: True) -> None:
        res = self.send_one(d, title, body, ev.severity)
        if not still_mine():  # dead-lettered at exit while it was being sent
            return
        with self._dead_lock:  # the lanes count from their own threads
            if res.ok:
                self.delivered += 1
            else:
                self.failed += 1
        if not res.ok:
            self._dead(ev, d, res.error or "failed", res.attempts)
        if self.on_result is not None:
            self.on_result(ev, res)

    def send_one(self, d: Destination, title: str, body: str, severity: Severity,
                 *, retries: int | None = None) -> SendResult:
        """Send to one destination with retries and exponential backoff; return the result (no URL in it)."""
        n = self.retries if retries is None else retries
        err = None
        for attempt in range(1, n + 1):
            try:
                self._send(d, title, body, severity)
                return SendResult(d.label, True, attempt)
            except Exception as e:  # noqa: BLE001 — any failure of a destination is retried, then dead-lettered
                err = _safe_error(e, d)
            if attempt < n and not self._wait(self.backoff * 2 ** (attempt - 1)):
                break
        return SendResult(d.label, False, attempt, err)

    def _wait(self, seconds: float) -> bool:
        time.sleep(seconds)
        return True

    def _dead(self, ev: Event | None, d: Destination | None, error: str, attempts: int) -> int:
        """Append one dead-letter line; return 1 when written."""
        if self.dead_letter is None or ev is None:
            return 0
        line = {"failed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "destination": d.label if d is not None else None, "error": error, "attempts": attempts,
                "event": ev.to_dict()}
        try:
            self.dead_letter.parent.mkdir(parents=True, exist_ok=True)
            with self._dead_lock, open(self.dead_letter, "a", encoding="utf-8") as f:
                f.write(json.dumps(line, default=str) + "\n")
        except OSError:
            return 0  # nowhere left to report to; the counters still say it failed
        return 1


class _Lane:
    """One destination's queue and worker thread (warms apprise for its URL first)."""

    def __init__(self, owner: AlertDispatcher, dest: Destination) -> None:
        self.owner, self.dest = owner, dest
        self.q: queue.Queue[tuple[Event, str, str] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._current: tuple[Event, str, str] | None = None  # the item being sent
        self.thread = threading.Thread(target=self._run, name=f"peaktrade-alerts-{dest.label}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        if self.owner._warm:
            try:  # apprise loads its plugins on first use (seconds on a busy machine): before the first alert
                import apprise

                _quiet_apprise()
                apprise.Apprise().add(_with_timeout(self.dest.url, self.owner.timeout))  # parses, sends nothing
            except Exception:  # noqa: BLE001 — a bad URL is reported when an alert is sent
                pass
        while True:
            item = self.q.get()
            try:
                if item is None:
                    return
                with self._lock:
                    if self.owner._abandoned.is_set():
                        self.owner._dead(item[0], self.dest, UNDELIVERED_AT_EXIT, 0)
                        continue
                    self._current = item
                self.owner._deliver(self.dest, *item, still_mine=lambda item=item: self._release(item))
            except Exception as e:  # noqa: BLE001 — the worker must survive anything
                if item is not None and self._release(item):
                    self.owner._dead(item[0], self.dest, f"internal error: {type(e).__name__}", 0)
            finally:
                self.q.task_done()

    def _release(self, item: tuple[Event, str, str]) -> bool:
        """Stop tracking ``item`` as in flight; return False when :meth:`abandon` took it meanwhile."""
        with self._lock:
            mine = self._current is item
            if mine:
                self._current = None
            return mine

    def abandon(self, error: str) -> int:
        """Dead-letter the item in flight and every queued one (see :meth:`AlertDispatcher.abandon`)."""
        n = 0
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            n += self.owner._dead(current[0], self.dest, error, 0)
        while True:
            try:
                item = self.q.get_nowait()
            except queue.Empty:
                return n
            if item is not None:
                n += self.owner._dead(item[0], self.dest, error, 0)
            self.q.task_done()


def _safe_error(e: BaseException, d: Destination) -> str:
    """Return an error text for ``e`` that never holds the destination's URL or its parts."""
    text = str(e) if isinstance(e, AlertError) else f"{type(e).__name__}"
    for secret in _secret_parts(d.url):  # without case: a host may come back lower-cased
        text = re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)
    return text


def _secret_parts(url: str) -> Iterable[str]:
    yield url
    try:
        p = urlsplit(url)
    except ValueError:
        return
    hidden = p.scheme.lower() not in HOST_SCHEMES
    parts = [p.username, p.password, p.path.strip("/"), p.query, *p.path.split("/")]
    if hidden:  # the host (and whatever sits where a port would) may be the token
        parts += [p.netloc, *re.split(r"[@:]", p.netloc)]
    for part in parts:
        if part and len(part) >= 3:
            yield part


def send_test(destinations: Sequence[Destination], *, timeout: float = 5.0, retries: int = 1,
              send: Sender | None = None) -> list[SendResult]:
    """Send a test alert to each destination (synchronously) and return each result."""
    ev = Event.make(EventKind.ERROR, "alerts-test", "peaktrade alerts test: if you read this, alerts reach you",
                    severity=Severity.INFO, payload={"test": True, "pid": os.getpid()})
    d = AlertDispatcher([], AlertRules(), retries=retries, timeout=timeout, send=send, backoff=0.2)
    try:
        return [d.send_one(dest, "[peaktrade] test alert", format_body(ev), ev.severity) for dest in destinations]
    finally:
        d.close()
