"""A real HTTP listener that records every request (also proxy CONNECTs) for "nothing reached X" tests."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Captured:
    method: str
    target: str  # the request target: a path, an absolute URL (proxied http) or host:port (CONNECT)
    headers: dict[str, str]
    body: bytes


@dataclass
class Listener:
    """Records requests; answers Kraken-shaped ``{"error": [...]}`` JSON (or 403 to a CONNECT)."""

    server: ThreadingHTTPServer
    requests: list[Captured] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def private(self) -> list[Captured]:
        return [r for r in self.requests if "/private/" in r.target]


def start_listener(answer: dict[str, Any] | None = None) -> Listener:
    """Start a recording listener on 127.0.0.1 (stop it with ``stop_listener``)."""
    payload = json.dumps(answer or {"error": ["EGeneral:Internal error"]}).encode()
    holder: dict[str, Listener] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _record(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            holder["l"].requests.append(Captured(self.command, self.path, dict(self.headers.items()), body))

        def _answer(self) -> None:
            self._record()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def do_CONNECT(self) -> None:  # a proxied https request: record where it wanted to go, refuse it
            self._record()
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    holder["l"] = Listener(srv)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return holder["l"]


def stop_listener(listener: Listener) -> None:
    listener.server.shutdown()
    listener.server.server_close()


#: Run the real CLI in a child process whose every name lookup is recorded in $LOOKUP_LOG; names that are
#: not loopback fail to resolve, so nothing can leave the machine whatever the code under test tries.
CLI_WITH_LOOKUP_LOG = """
import os, socket, sys
_real = socket.getaddrinfo
def _lookup(host, *a, **kw):
    with open(os.environ["LOOKUP_LOG"], "a") as f:
        f.write(f"{host}\\n")
    if str(host) not in ("127.0.0.1", "localhost", "::1"):
        raise socket.gaierror(socket.EAI_NONAME, "lookups leave no machine in this test")
    return _real(host, *a, **kw)
socket.getaddrinfo = _lookup
from peaktrade.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def record_lookups(monkeypatch: Any) -> list[str]:
    """In this process: record every name lookup; non-loopback names fail to resolve (nothing leaves)."""
    import socket

    seen: list[str] = []
    real = socket.getaddrinfo

    def lookup(host: Any, *a: Any, **kw: Any) -> Any:
        seen.append(str(host))
        if str(host) not in ("127.0.0.1", "localhost", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, "lookups leave no machine in this test")
        return real(host, *a, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    return seen
