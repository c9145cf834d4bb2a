"""HTTP transport of the simulator (stdlib ``ThreadingHTTPServer``) and the admin endpoint."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlsplit

from peaktrade.sim._auth import is_loopback
from peaktrade.sim._exchange import SimExchange
from peaktrade.sim._faults import Fault, fill_named_order, parse_profile

_MAX_BODY = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests/ccxt use it
    # one write per response: unbuffered, headers and body go out in separate segments and a
    # keep-alive client's delayed ACK stalls every request by ~40 ms (Nagle)
    wbufsize = 1 << 16
    server_version = "peaktrade-sim"
    sys_version = ""
    server: "SimHTTPServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    # ------------------------------------------------------------------------------------------
    def _send(self, status: int, payload: Any, *, content_type: str = "application/json") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self, verb: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self.close_connection = True
            return self._send(413, {"error": ["EGeneral:Invalid arguments"]})
        body = self.rfile.read(length) if length else b""
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
        if section == "public":
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            if verb == "POST" and body:
                from peaktrade.sim._exchange import KrakenError, parse_body

                try:
                    params.update(parse_body(body, self.headers.get("Content-Type", "")))
                except KrakenError as e:
                    return self._send(200, {"error": [e.message]})
            answer = ex.handle_public(method, params)
        else:
            if verb != "POST":
                return self._send(200, {"error": ["EGeneral:Invalid arguments"]})
            answer = ex.handle_private(method, url.path, dict(self.headers.items()), body)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True  # applied, but the client never hears of it
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
            data = json.loads(body) if body else {}
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            if what == "state" and verb == "GET":
                return self._send(200, ex.state())
            if what == "advance" and verb == "POST":
                t = ex.advance(bars=float(data.get("bars", 0)), seconds=float(data.get("seconds", 0)))
                return self._send(200, {"time": t})
            if what == "faults" and verb == "POST":
                return self._send(200, self._set_faults(ex, data))
            if what == "speed" and verb == "POST":
                ex.set_speed(float(data["speed"]))
                return self._send(200, {"speed": ex.speed})
            if what == "status" and verb == "POST":
                if data.get("status") not in ("online", "maintenance", "cancel_only", "post_only"):
                    raise ValueError("status must be online, maintenance, cancel_only or post_only")
                ex.status = data["status"]
                return self._send(200, {"status": ex.status})
            if what == "balances" and verb == "POST":
                with ex.lock:
                    ex.balances.update({str(k): float(v) for k, v in data.items()})
                return self._send(200, {"balances": ex.balances})
        except (ValueError, KeyError, TypeError) as e:
            return self._send(400, {"error": [f"admin: {e}"]})
        return self._send(404, {"error": [f"admin: no {verb} /_admin/{what}"]})


    @staticmethod
    def _set_faults(ex: SimExchange, data: dict[str, Any]) -> dict[str, Any]:
        faults = [Fault.from_dict(f) for f in data.get("faults", [data] if "kind" in data else [])]
        profile = parse_profile(data["profile"]) if "profile" in data else None
        with ex.lock:
            if data.get("clear"):
                ex.faults.clear()
            if profile is not None:
                ex.faults.profile = profile
            for f in faults:
                ex.faults.add(f)
            return {"queued": [f.to_dict() for f in ex.faults.queue], "profile": ex.faults.profile.name}


def admin_allowed(client_host: str | None) -> bool:
    """Whether a client may use ``/_admin/*``: loopback addresses only."""
    return is_loopback(client_host)


class SimHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one :class:`SimExchange`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, exchange: SimExchange, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False):
        self.exchange = exchange
        self.verbose = verbose
        super().__init__((host, port), _Handler)

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

    def __enter__(self) -> "SimServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __str__(self) -> str:
        return self.url


def start_server(exchange: SimExchange | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 verbose: bool = False, **exchange_kwargs: Any) -> SimServer:
    """Start the simulator on a background thread (port 0 picks a free port); return its handle."""
    ex = exchange if exchange is not None else SimExchange(**exchange_kwargs)
    srv = SimHTTPServer(ex, host, port, verbose=verbose)
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                          name=f"peaktrade-sim:{srv.server_address[1]}", daemon=True)
    th.start()
    return SimServer(srv, th)


@contextlib.contextmanager
def serve_in_thread(exchange: SimExchange | None = None, *, host: str = "127.0.0.1", port: int = 0,
                    verbose: bool = False, **exchange_kwargs: Any) -> Iterator[SimServer]:
    """Run the simulator for the ``with`` block; yield the handle (``.url`` is the base URL)."""
    s = start_server(exchange, host=host, port=port, verbose=verbose, **exchange_kwargs)
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
