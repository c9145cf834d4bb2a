"""HTTP transport of the simulator (stdlib ``ThreadingHTTPServer``) and the admin endpoint.

The transport assumes hostile clients: a request must arrive whole within ``request_timeout``
seconds of its first byte (an idle connection is closed after the same time), bodies are capped,
every malformed request gets a 4xx JSON answer and its connection is closed, and a handler
exception becomes a 500 while the server keeps serving (docs/simulator.md "Limits").
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from peaktrade.sim._auth import is_loopback
from peaktrade.sim._book import check_number
from peaktrade.sim._faults import Fault, fill_named_order, parse_profile
from peaktrade.sim._rest import MalformedRequest, SimExchange, parse_body

#: seconds a client has to send a whole request (from its first byte) and to start the next one
REQUEST_TIMEOUT = 5.0
#: listen backlog: a burst of connections waits in the kernel's queue instead of SYN retries
BACKLOG = 1024
#: largest request body accepted (413 above)
MAX_BODY = 1 << 20
#: fault fields the admin endpoint bounds (a latency of 1e12 ms would park a thread for good)
_FAULT_BOUNDS = {"count": (1, 1_000_000), "ms": (0, 600_000), "status": (100, 599)}


class _DeadlineReader(io.RawIOBase):
    """The socket as a raw stream whose reads all end by one deadline per request.

    A plain socket timeout bounds each ``recv`` only: a client dripping one byte per
    ``timeout - 1`` seconds would hold its thread for ever. The deadline starts at the first byte
    of a request; before it, the wait for that byte (an idle keep-alive connection) is ``timeout``.
    """

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        super().__init__()
        self._sock, self._timeout = sock, timeout
        self.deadline: float | None = None  # None: waiting for a request's first byte

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        wait = self._timeout if self.deadline is None else self.deadline - time.monotonic()
        if wait <= 0:
            raise TimeoutError("request not received in time")
        self._sock.settimeout(wait)
        n = self._sock.recv_into(buf)
        if n and self.deadline is None:
            self.deadline = time.monotonic() + self._timeout
        return n


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests/ccxt use it
    # one write per response: unbuffered, headers and body go out in separate segments and a
    # keep-alive client's delayed ACK stalls every request by ~40 ms (Nagle)
    wbufsize = 1 << 16
    server_version = "peaktrade-sim"
    server: SimHTTPServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:
            super().log_message(format, *args)

    def setup(self) -> None:
        self.connection = self.request
        self._reader = _DeadlineReader(self.connection, self.server.request_timeout)
        self.rfile = io.BufferedReader(self._reader)
        self.wfile = self.connection.makefile("wb", self.wbufsize)
        self._linger = False

    def finish(self) -> None:
        super().finish()
        if self._linger:  # closing with unread request bytes sends a RST that can destroy the answer
            self._drain()

    def _drain(self) -> None:
        """Half-close, then discard what the client still sends, for at most one timeout."""
        deadline = time.monotonic() + min(1.0, self.server.request_timeout)
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            while (wait := deadline - time.monotonic()) > 0:
                self.connection.settimeout(wait)
                if not self.connection.recv(1 << 16):
                    break

    # ------------------------------------------------------------------------------------------
    def handle_one_request(self) -> None:
        """Read one request, answer it; never let a client's fault escape as an exception."""
        self._reader.deadline = None
        self._responded = self._reading = False
        self.requestline, self.command, self.request_version = "", None, "HTTP/1.0"  # until parsed
        try:
            self._handle_one_request()
        except TimeoutError:
            self.close_connection = True
            if self._reading and self._reader.deadline is not None and not self._responded:
                with contextlib.suppress(OSError):  # a half-sent request: say why it is dropped
                    self.send_error(408, f"request not complete within {self.server.request_timeout:g} s")
        except OSError:  # reset, broken pipe: the client is gone
            self.close_connection = True

    def _handle_one_request(self) -> None:
        # the standard library's handle_one_request, plus the body, 405 and 500 handling
        self._reading = True
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            return self.send_error(414, "request line longer than 65536 bytes")
        if not self.raw_requestline:
            self.close_connection = True
            return None
        if len(self.raw_requestline.split()) != 3:  # HTTP/0.9 or garbage: the stdlib would wait for headers
            return self.send_error(400, "request line is invalid: expected METHOD PATH HTTP/1.x")
        if not self.parse_request():  # 400 bad request line/version, 431 header flood: answered
            return None
        if self.command not in ("GET", "POST"):
            return self.send_error(405, f"method {self.command[:20]} is not allowed: expected GET or POST")
        body = self._read_body()
        self._reading = False
        if body is None:
            return None
        try:
            self._dispatch(self.command, body)
        except (TimeoutError, OSError):
            raise
        except Exception as e:  # a simulator bug: 500 (not applied? unknown: no Kraken error body)
            sys.stderr.write(f"peaktrade-sim: {self.command} {self.path[:200]} failed: {e!r}\n")
            if self.server.verbose:
                traceback.print_exc()
            self.close_connection = True
            if not self._responded:
                self._send(500, b"500 Internal Server Error: the simulator failed on this request",
                           content_type="text/plain")
        self.wfile.flush()

    def _read_body(self) -> bytes | None:
        """Return the request body, or None after a 4xx (framing missing, invalid or too large)."""
        if self.headers.get("Transfer-Encoding") is not None:
            return self.send_error(411, "Transfer-Encoding is not supported: send Content-Length")
        values = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if not values:
            return b""
        raw = values.pop()
        if values:
            return self.send_error(400, "conflicting Content-Length headers")
        if not (raw.isascii() and raw.isdigit()):  # int() would take ' 1', '+1', '1_0', '²'
            return self.send_error(400, f"Content-Length {raw[:30]!r} is invalid: expected ASCII digits")
        digits = raw.lstrip("0") or "0"
        if len(digits) > 18 or int(digits) > self.server.max_body:
            return self.send_error(413, f"Content-Length {raw[:30]} exceeds the limit of {self.server.max_body} bytes")
        length = int(digits)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client closed early
            return self.send_error(400, f"body ended after {len(body)} of {length} bytes")
        return body

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A JSON error instead of the standard library's HTML page; the connection closes (after a
        malformed request where the next one starts is unknown)."""
        self.log_error("code %d, message %s", code, message)
        self.close_connection = self._linger = True
        if not self.request_version.startswith("HTTP/1."):
            self.request_version = "HTTP/1.0"  # answer with a status line, whatever was asked
        text = message or self.responses.get(code, ("error",))[0]
        self._send(code, {"error": [f"HTTP {code}: {text}"]})

    def _send(self, status: int, payload: Any, *, content_type: str = "application/json") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        self.connection.settimeout(self.server.request_timeout)  # a client that never reads
        self._responded = True
        self.send_response(status)
        if status == 405:
            self.send_header("Allow", "GET, POST")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self, verb: str, body: bytes) -> None:
        url = urlsplit(self.path)
        parts = url.path.split("/")
        ex = self.server.exchange
        if url.path.startswith("/_admin/"):
            return self._admin(verb, url.path[len("/_admin/"):], body)
        if len(parts) != 4 or parts[1] != "0" or parts[2] not in ("public", "private"):
            return self._send(404, b"404 Not Found: Kraken paths are /0/public/<Method> and /0/private/<Method>",
                              content_type="text/plain")
        section, method = parts[2], parts[3]
        with ex.lock:
            fault = ex.faults.pick(method)
            if fault is not None and fault.fill:
                fill_named_order(ex, body, self.headers.get("Content-Type", ""))
        if fault is not None:
            if fault.kind == "latency":
                time.sleep(fault.ms / 1000.0)
            elif fault.kind == "http_error":
                return self._send(fault.status, f"<html><body>{fault.status} simulated</body></html>".encode(),
                                  content_type="text/html")
            elif fault.kind in ("unavailable", "rate_limit", "invalid_nonce"):
                msg = {"unavailable": "EService:Unavailable", "rate_limit": "EAPI:Rate limit exceeded",
                       "invalid_nonce": "EAPI:Invalid nonce"}[fault.kind]
                return self._send(200, {"error": [msg]})
        try:
            if section == "public":
                params = dict(parse_qsl(url.query, keep_blank_values=True))
                if verb == "POST" and body:
                    params.update(parse_body(body, self.headers.get("Content-Type", "")))
                answer = ex.handle_public(method, params)
            else:
                if verb != "POST":
                    return self._send(200, {"error": ["EGeneral:Invalid arguments"]})
                answer = ex.handle_private(method, url.path, dict(self.headers.items()), body)
        except MalformedRequest as e:  # unreadable body or nonce: not applied
            self.close_connection = True
            return self._send(400, {"error": [e.message]})
        if fault is not None and fault.kind == "drop":
            self.close_connection = True  # applied, but the client never hears of it
            self._responded = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return None
        if fault is not None and fault.kind == "error_after":
            return self._send(fault.status, f"<html><body>{fault.status} simulated</body></html>".encode(),
                              content_type="text/html")
        return self._send(200, answer)

    def _admin(self, verb: str, what: str, body: bytes) -> None:
        if not admin_allowed(self.client_address[0]):
            return self._send(403, {"error": ["admin endpoint is for loopback clients only"]})
        ex = self.server.exchange
        try:
            try:
                data = json.loads(body) if body else {}
            except (ValueError, RecursionError):
                raise ValueError("body is invalid: expected a JSON object") from None
            if not isinstance(data, dict):
                raise ValueError("body is invalid: expected a JSON object")
            if what == "state" and verb == "GET":
                return self._send(200, ex.state())
            if what == "advance" and verb == "POST":
                _known(data, "bars", "seconds")
                return self._send(200, {"time": ex.advance(bars=data.get("bars", 0), seconds=data.get("seconds", 0))})
            if what == "faults" and verb == "POST":
                return self._send(200, self._set_faults(ex, data))
            if what == "speed" and verb == "POST":
                _known(data, "speed")
                if "speed" not in data:
                    raise ValueError("speed is missing: expected {\"speed\": bars per wall second}")
                ex.set_speed(data["speed"])
                return self._send(200, {"speed": ex.speed})
            if what == "status" and verb == "POST":
                _known(data, "status")
                ex.set_status(data.get("status"))
                return self._send(200, {"status": ex.status})
            if what == "balances" and verb == "POST":
                ex.set_balances(data)
                return self._send(200, {"balances": ex.balances})
        except (ValueError, TypeError) as e:
            return self._send(400, {"error": [f"admin {what}: {e}"]})
        return self._send(404, {"error": [f"admin: no {verb} /_admin/{what}"]})

    @staticmethod
    def _set_faults(ex: SimExchange, data: dict[str, Any]) -> dict[str, Any]:
        _known(data, "faults", "profile", "clear", "kind", "methods", "count", "status", "ms")
        specs = data.get("faults", [data] if "kind" in data else [])
        if not isinstance(specs, list) or not all(isinstance(f, dict) for f in specs):
            raise ValueError("faults is invalid: expected a list of fault objects")
        for f in specs:
            for name, (lo, hi) in _FAULT_BOUNDS.items():
                if name in f:
                    check_number(name, f[name], lo=lo, hi=hi, what="an integer", integer=True)
            if not isinstance(f.get("methods", []), (list, str, type(None))):
                raise ValueError("methods is invalid: expected a list of Kraken method names")
        if not isinstance(data.get("profile", ""), str) or not isinstance(data.get("clear", False), bool):
            raise ValueError("profile/clear are invalid: expected a profile string and a boolean")
        faults = [Fault.from_dict(f) for f in specs]  # all built before any is queued
        profile = parse_profile(data["profile"]) if "profile" in data else None
        with ex.lock:
            if data.get("clear"):
                ex.faults.clear()
            if profile is not None:
                ex.faults.profile = profile
            for f in faults:
                ex.faults.add(f)
            return {"queued": [f.to_dict() for f in ex.faults.queue], "profile": ex.faults.profile.name}


def _known(data: dict[str, Any], *names: str) -> None:
    """Refuse unknown fields: a typo ('bar') must not pass as a no-op."""
    unknown = sorted(str(k)[:40] for k in data if k not in names)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}: expected {', '.join(names)}")


def admin_allowed(client_host: str | None) -> bool:
    """Whether a client may use ``/_admin/*``: loopback addresses only."""
    return is_loopback(client_host)


class SimHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one :class:`SimExchange`, with the transport limits."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, exchange: SimExchange, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False,
                 request_timeout: float = REQUEST_TIMEOUT, backlog: int = BACKLOG, max_body: int = MAX_BODY):
        if not (isinstance(request_timeout, (int, float)) and math.isfinite(request_timeout) and request_timeout > 0):
            raise ValueError(f"request_timeout={request_timeout!r} is invalid: expected seconds > 0")
        if not (isinstance(backlog, int) and backlog >= 1):
            raise ValueError(f"backlog={backlog!r} is invalid: expected an integer >= 1")
        if not (isinstance(max_body, int) and max_body >= 0):
            raise ValueError(f"max_body={max_body!r} is invalid: expected bytes >= 0")
        self.exchange = exchange
        self.verbose = verbose
        self.request_timeout = float(request_timeout)
        self.request_queue_size = backlog  # listen() reads it in super().__init__
        self.max_body = max_body
        super().__init__((host, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # the handler answers its own errors; what reaches here (e.g. no thread could be started)
        # is logged in one line, and the server keeps serving
        sys.stderr.write(f"peaktrade-sim: request from {client_address} failed: {sys.exc_info()[1]!r}\n")

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (ccxt appends ``/0/public/<Method>``)."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class SimServer:
    """A running simulator: ``url``, ``exchange``, ``server``; ``stop()`` shuts it down."""

    def __init__(self, server: SimHTTPServer, thread: threading.Thread) -> None:
        self.server, self.thread = server, thread
        self.exchange = server.exchange
        self.url = server.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __str__(self) -> str:
        return self.url


def start_server(exchange: SimExchange | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 verbose: bool = False, request_timeout: float = REQUEST_TIMEOUT, backlog: int = BACKLOG,
                 max_body: int = MAX_BODY, **exchange_kwargs: Any) -> SimServer:
    """Start the simulator on a background thread (port 0 picks a free port); return its handle.

    ``request_timeout``, ``backlog`` and ``max_body`` are the transport limits (docs/simulator.md).
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"--port {port!r} is invalid: expected 1-65535 (or 0 to pick a free one)")
    ex = exchange if exchange is not None else SimExchange(**exchange_kwargs)
    try:
        srv = SimHTTPServer(ex, host, port, verbose=verbose, request_timeout=request_timeout, backlog=backlog,
                            max_body=max_body)
    except OSError as e:  # in use, not permitted, unknown host: one line naming the address, not a traceback
        raise OSError(e.errno, f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                          name=f"peaktrade-sim:{srv.server_address[1]}", daemon=True)
    th.start()
    return SimServer(srv, th)


@contextlib.contextmanager
def serve_in_thread(exchange: SimExchange | None = None, **kwargs: Any) -> Iterator[SimServer]:
    """Run the simulator for the ``with`` block; yield the handle (``.url`` is the base URL).

    Keywords are those of :func:`start_server`.
    """
    s = start_server(exchange, **kwargs)
    try:
        yield s
    finally:
        s.stop()


def ccxt_config(url: str, api_key: str, secret: str, **extra: Any) -> dict[str, Any]:
    """Return the ``ccxt.kraken(...)`` config that points unmodified ccxt at the simulator."""
    cfg = {"apiKey": api_key, "secret": secret, "enableRateLimit": False,
           "urls": {"api": {"public": url, "private": url}}}
    cfg.update(extra)
    return cfg
