"""Real alert receivers on loopback: a JSON webhook (http.server) and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    """A JSON webhook on 127.0.0.1; ``delay`` seconds before answering (a hanging destination)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.received: list[dict[str, Any]] = []  # {"path", "body", "at"} in arrival order
        self.answered: list[float] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                with outer.lock:
                    outer.received.append({"path": self.path, "raw": raw.decode("utf-8", "replace"),
                                           "body": json.loads(raw or b"{}"), "at": time.time(),
                                           "headers": dict(self.headers)})
                if outer.delay:
                    time.sleep(outer.delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")
                with outer.lock:
                    outer.answered.append(time.time())

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, token: str = "s3cr3t-token") -> str:
        return f"json://127.0.0.1:{self.port}/hook/{token}"

    def wait_for(self, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"the webhook received {len(self.received)} of {n} messages in time")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """An aiosmtpd SMTP server on 127.0.0.1 collecting messages."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[dict[str, Any]] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                outer.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                       "data": envelope.content.decode("utf-8", "replace"), "at": time.time()})
                return "250 Message accepted for delivery"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def url(self) -> str:
        # no AUTH on this server: apprise sends without logging in
        return f"mailto://127.0.0.1:{self.port}?from=peaktrade@example.com&to=ops@example.com"

    def wait_for(self, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= n:
                return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"the SMTP server received {len(self.messages)} of {n} messages in time")

    def close(self) -> None:
        self.controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
