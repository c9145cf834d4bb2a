"""The simulator survives bad clients: admin input validated, backlog, per-request deadlines, a 4xx
for every malformed request, handler exceptions answered, over real sockets against the real server."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
from sim_test_support import KEY, SECRET

from peaktrade.sim import KrakenError, api_sign, serve_in_thread
from peaktrade.sim._auth import KeyState
from peaktrade.sim._rest import PRIVATE_METHODS, PUBLIC_METHODS
from peaktrade.sim._server import SimHTTPServer

# a client that waits longer than this for one answer has met a hang (tests never assert speed)
PATIENCE = 30.0


def _admin(url, what, payload=None, *, raw: bytes | None = None):
    data = raw if raw is not None else (None if payload is None else json.dumps(payload).encode())
    req = urllib.request.Request(f"{url}/_admin/{what}", data=data, method="GET" if data is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=PATIENCE) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _port(sim) -> int:
    return sim.server.server_address[1]


def _exchange_raw(port: int, data: bytes, *, timeout: float = PATIENCE) -> bytes:
    """Send ``data`` on a fresh connection and return everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(1 << 16):
            out += chunk
        return out


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _get_time(port: int) -> int:
    out = _exchange_raw(port, b"GET /0/public/Time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert _status(out) == 200
    return json.loads(out.split(b"\r\n\r\n", 1)[1])["result"]["unixtime"]


def _signed(path: str, body: bytes, nonce: str, content_type: str = "application/x-www-form-urlencoded") -> bytes:
    sign = api_sign(path, body, nonce, SECRET)
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAPI-Key: {KEY}\r\nAPI-Sign: {sign}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


# ------------------------------------------------------------------------------------------------ admin
@pytest.mark.parametrize(("body", "field"), [
    (b'{"bars": NaN}', "bars"),
    (b'{"bars": Infinity}', "bars"),
    (b'{"seconds": -Infinity}', "seconds"),
    (b'{"bars": -1}', "bars"),
    (b'{"seconds": -0.5}', "seconds"),
    (b'{"bars": "10"}', "bars"),
    (b'{"bars": true}', "bars"),
    (b'{"bars": null}', "bars"),
    (b'{"bars": [1]}', "bars"),
    (b'{"bars": 1e300}', "bars"),
    (b'{"seconds": 1e300}', "seconds"),
    (b'{"bars": 100000000000000000000000000000}', "bars"),
    (b'{"bar": 10}', "bar"),
    (b'[1, 2]', "JSON object"),
    (b'{"bars": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "JSON object"),
    (b"\xff\xfe", "JSON object"),
])
def test_advance_when_nan_inf_negative_wrong_type_or_huge_then_400_names_field_and_clock_still_works(
        sim, body, field):
    t0 = sim.exchange.now()
    status, out = _admin(sim.url, "advance", raw=body)
    assert status == 400
    assert field in out["error"][0] and "expected" in out["error"][0]
    assert sim.exchange.now() == t0  # state unchanged
    status, out = _admin(sim.url, "advance", {"bars": 10})
    assert status == 200 and out["time"] == pytest.approx(t0 + 600)
    assert _admin(sim.url, "state")[1]["time"] == pytest.approx(t0 + 600)


@pytest.mark.parametrize(("what", "payload", "field"), [
    ("speed", {"speed": float("nan")}, "speed"),
    ("speed", {"speed": -1}, "speed"),
    ("speed", {"speed": "fast"}, "speed"),
    ("speed", {"speed": 1e12}, "speed"),
    ("speed", {}, "speed"),
    ("status", {"status": ["online"]}, "status"),
    ("status", {"status": "closed"}, "status"),
    ("balances", {"ZUSD": float("nan")}, "ZUSD"),
    ("balances", {"ZUSD": -5}, "ZUSD"),
    ("balances", {"ZUSD": "5"}, "ZUSD"),
    ("balances", {"ZUSD": 1e300}, "ZUSD"),
    ("balances", {"XXBT": 2, "DOGE": 5}, "DOGE"),
    ("faults", {"kind": "latency", "ms": 1e15}, "ms"),
    ("faults", {"kind": "drop", "count": float("inf")}, "count"),
    ("faults", {"kind": "http_error", "status": 1000}, "status"),
    ("faults", {"kind": "drop", "count": "x"}, "count"),
    ("faults", {"kind": "drop", "count": 1.5}, "count"),
    ("faults", {"faults": {"kind": "drop"}}, "faults"),
    ("faults", {"faults": [{"kind": "drop"}, {"kind": "explode"}]}, "kind"),
    ("faults", {"profile": 5}, "profile"),
])
def test_admin_when_invalid_value_then_400_names_field_and_state_unchanged(sim, what, payload, field):
    ex = sim.exchange
    before = (ex.speed, ex.status, dict(ex.balances), list(ex.faults.queue), ex.faults.profile.name)
    status, out = _admin(sim.url, what, payload)
    assert status == 400
    assert field in out["error"][0] and "expected" in out["error"][0]
    assert (ex.speed, ex.status, dict(ex.balances), list(ex.faults.queue), ex.faults.profile.name) == before
    assert _admin(sim.url, "balances", {"ZUSD": 5000})[1]["balances"]["ZUSD"] == 5000  # still served


def test_exchange_api_when_nan_advance_or_speed_then_value_error_and_clock_unchanged(make_exchange):
    ex = make_exchange(speed=0)
    t0 = ex.now()
    for kw in ({"bars": float("nan")}, {"seconds": float("inf")}, {"bars": -3}):
        with pytest.raises(ValueError, match="expected"):
            ex.advance(**kw)
    with pytest.raises(ValueError, match="speed"):
        ex.set_speed(float("nan"))
    assert ex.now() == t0 and ex.speed == 0
    assert ex.advance(bars=1) == pytest.approx(t0 + 60)


# ------------------------------------------------------------------------------------------------ malformed
_TIME = b"POST /0/public/Time HTTP/1.1\r\nHost: x\r\n"
MALFORMED = {
    "content-length not a number": (_TIME + b"Content-Length: abc\r\n\r\n", 400),
    "content-length negative": (_TIME + b"Content-Length: -5\r\n\r\n", 400),
    "content-length with sign": (_TIME + b"Content-Length: +5\r\n\r\nhello", 400),
    "content-length unicode digit": (_TIME + "Content-Length: ²\r\n\r\n".encode("latin-1"), 400),
    "content-length huge": (_TIME + b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n", 413),
    "content-length over the cap": (_TIME + b"Content-Length: 1048577\r\n\r\n", 413),
    "content-length conflicting": (_TIME + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    "chunked body": (_TIME + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411),
    "invalid json public": (_TIME + b"Content-Type: application/json\r\nContent-Length: 5\r\n\r\n{nope", 400),
    "json not an object": (_TIME + b"Content-Type: application/json\r\nContent-Length: 3\r\n\r\n[1]", 400),
    "deeply nested json public": (_TIME + b"Content-Type: application/json\r\nContent-Length: 200002\r\n\r\n"
                                  + b'{"a":' + b"[" * 199_996 + b"]", 400),
    "nested json value": (_TIME + b"Content-Type: application/json\r\nContent-Length: 16\r\n\r\n"
                          + b'{"pair": {"a":1}}'[:16], 400),
    "unknown method": (b"DELETE /0/public/Time HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    "made-up method": (b"BREW /0/public/Time HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    "header flood": (b"GET /0/public/Time HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(500))
                     + b"\r\n", 431),
    "header line too long": (b"GET /0/public/Time HTTP/1.1\r\nX: " + b"y" * 70_000 + b"\r\n\r\n", 431),
    "request line too long": (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    "garbage request line": (b"\x00\x01garbage\r\n\r\n", 400),
    "http/0.9": (b"GET /0/public/Time\r\n", 400),
    "bad http version": (b"GET /0/public/Time HTTP/9.9x\r\n\r\n", 400),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_request_when_sent_then_4xx_json_answer_and_server_keeps_serving(sim, case):
    data, want = MALFORMED[case]
    out = _exchange_raw(_port(sim), data)  # returns: the server answered and closed the connection
    assert _status(out) == want
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["error"][0]
    assert _get_time(_port(sim)) > 0


@pytest.mark.parametrize("nonce", ["²", "١٢٣", "12²", " 1", "1_000", "-1", "1e9", "", str(2**64), "9" * 5000])
def test_private_call_when_nonce_not_ascii_u64_then_400_invalid_nonce_and_key_state_unchanged(sim, nonce):
    body = f"nonce={nonce}".encode()
    out = _exchange_raw(_port(sim), _signed("/0/private/Balance", body, nonce))
    assert _status(out) == 400
    assert json.loads(out.split(b"\r\n\r\n", 1)[1]) == {"error": ["EAPI:Invalid nonce"]}
    assert sim.exchange.keys[KEY].last_nonce == -1
    ok = _exchange_raw(_port(sim), _signed("/0/private/Balance", b"nonce=5", "5"))
    assert _status(ok) == 200 and json.loads(ok.split(b"\r\n\r\n", 1)[1])["error"] == []


def test_private_call_when_deeply_nested_or_invalid_json_then_400_and_nothing_applied(sim):
    for body in (b'{"nonce": "7", "pair": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b'{"nonce": "7",'):
        out = _exchange_raw(_port(sim), _signed("/0/private/AddOrder", body, "7", "application/json"))
        assert _status(out) == 400
        assert json.loads(out.split(b"\r\n\r\n", 1)[1]) == {"error": ["EGeneral:Invalid arguments"]}
    assert sim.exchange.orders == {} and sim.exchange.keys[KEY].last_nonce == -1


def test_oversized_body_when_sent_whole_then_413_read_by_client(sim):
    req = urllib.request.Request(f"{sim.url}/0/public/Time", data=b"a=" + b"b" * (2 << 20), method="POST")
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(req, timeout=PATIENCE)
    assert ei.value.code == 413 and "limit of 1048576 bytes" in json.loads(ei.value.read())["error"][0]
    assert _get_time(_port(sim)) > 0


def test_body_shorter_than_declared_when_client_stalls_then_408_and_closed(make_exchange):
    with serve_in_thread(make_exchange(), request_timeout=0.5) as sim:
        out = _exchange_raw(_port(sim), _TIME + b"Content-Length: 10\r\n\r\nab")
        assert _status(out) == 408 and b"Connection: close" in out
        assert _get_time(_port(sim)) > 0


def test_request_when_dribbled_slower_than_deadline_then_closed_before_it_completes(make_exchange):
    """Each byte arrives well within the timeout, yet the whole request may not take longer."""
    request = b"GET /0/public/Time HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"p" * 200 + b"\r\n\r\n"
    with serve_in_thread(make_exchange(), request_timeout=0.6) as sim, \
            socket.create_connection(("127.0.0.1", _port(sim)), timeout=PATIENCE) as s:
        sent = 0
        for i in range(len(request)):
            if select.select([s], [], [], 0)[0]:  # the server answered (and closes)
                break
            try:
                s.send(request[i:i + 1])
            except OSError:
                break
            sent += 1
            time.sleep(0.05)
        out = b""
        try:
            while chunk := s.recv(1 << 16):
                out += chunk
        except ConnectionResetError:
            pass
        assert sent < len(request)
        assert _status(out) == 408


# ------------------------------------------------------------------------------------------------ load
def test_half_open_connections_when_300_stall_then_closed_by_timeout_while_client_answered(make_exchange):
    with serve_in_thread(make_exchange(), request_timeout=1.0) as sim:
        port = _port(sim)
        stalled = []
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
            # half a request: the headers never end (every third sends nothing at all)
            if i % 3:
                s.sendall(b"POST /0/public/Time HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n")
            stalled.append(s)
        answered = [_get_time(port) for _ in range(5)]  # a normal client meanwhile
        assert all(t > 0 for t in answered)
        closed = Counter()
        give_up = time.monotonic() + PATIENCE  # one budget for all 300: a hang fails in bounded time
        for s in stalled:
            try:
                out = b""
                s.settimeout(max(0.01, give_up - time.monotonic()))
                while chunk := s.recv(1 << 16):  # EOF: the server closed it
                    out += chunk
                closed[_status(out) if out else "silent"] += 1
            except TimeoutError:
                closed["still open"] += 1
            except ConnectionResetError:
                closed["reset"] += 1
            finally:
                s.close()
        assert closed == Counter({408: 200, "silent": 100})
        assert _get_time(port) > 0


def test_concurrent_requests_when_1000_threads_at_once_then_all_answered(sim):
    n, port = 1000, _port(sim)
    results: list[object] = [None] * n
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        try:
            barrier.wait(PATIENCE)
            out = _exchange_raw(port, b"GET /0/public/Time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            results[i] = _status(out)
        except Exception as e:  # noqa: BLE001 - counted, reported by the assert
            results[i] = type(e).__name__

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE * 3)
    assert Counter(results) == Counter({200: n})


def test_backlog_when_server_not_accepting_then_at_least_128_connections_wait_and_are_answered(make_exchange):
    srv = SimHTTPServer(make_exchange(), "127.0.0.1", 0)  # listening, not accepting yet
    port = srv.server_address[1]
    socks, th = [], None
    try:
        for _ in range(200):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
        pending, done = set(socks), set()
        give_up = time.monotonic() + 5.0
        while pending and time.monotonic() < give_up and len(done) < 128:
            _, writable, _ = select.select([], list(pending), [], 0.1)
            for s in writable:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    done.add(s)
                pending.discard(s)
        assert len(done) >= 128  # a backlog of 5 queues 6; the rest wait for SYN retries
        th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        th.start()
        for s in list(done)[:128]:
            s.setblocking(True)
            s.settimeout(PATIENCE)
            s.sendall(b"GET /0/public/Time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        statuses = Counter()
        for s in list(done)[:128]:
            out = b""
            while chunk := s.recv(1 << 16):
                out += chunk
            statuses[_status(out)] += 1
        assert statuses == Counter({200: 128})
    finally:
        for s in socks:
            s.close()
        if th is not None:  # shutdown() waits for serve_forever: never call it before that started
            srv.shutdown()
        srv.server_close()


# ------------------------------------------------------------------------------------------------ bugs
def test_handler_exception_when_raised_then_500_without_kraken_error_body_and_server_keeps_serving(sim, monkeypatch):
    def broken(method, params):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(sim.exchange, "handle_public", broken)
    out = _exchange_raw(_port(sim), b"GET /0/public/Ticker HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _status(out) == 500 and b'"error"' not in out  # an unknown outcome, not a venue rejection
    monkeypatch.undo()
    assert _get_time(_port(sim)) > 0


_VALUES = ["", "0", "-1", "²", "١٢", "nan", "inf", "-inf", "1e400", "9" * 5000, "abc", "1.5", " 1", "1_0",
           "0x10", "99999999999999999999999", ",", "%", "\x00", "true"]
_FIELDS = ["pair", "type", "ordertype", "volume", "price", "userref", "cl_ord_id", "txid", "ofs", "start", "end",
           "closetime", "trades", "interval", "since", "count", "asset", "oflags", "timeinforce", "validate"]
_FIELDS_READ = {"OHLC": ["pair", "interval", "since"], "Depth": ["pair", "count"]}  # (answers are big)


@pytest.mark.parametrize("method", PUBLIC_METHODS + PRIVATE_METHODS)
def test_method_when_any_parameter_is_garbage_then_kraken_error_never_exception(make_exchange, method):
    ex = make_exchange(speed=0)
    ex.call("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01", price="20000", userref="5")
    base = ({"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "0.01", "price": "20000"}
            if method == "AddOrder" else {"pair": "XBTUSD"} if method in ("OHLC", "Depth") else {})
    seen = Counter()
    fields = _FIELDS_READ.get(method, _FIELDS)
    for field in fields:
        for value in _VALUES:
            params = {**base, field: value}
            if method in PUBLIC_METHODS:
                answer = ex.handle_public(method, params)
            else:  # the private method itself, past authentication (which has its own test)
                ks = KeyState("", "pro")
                ks.rest.limit = float("inf")
                with ex.lock:
                    try:
                        answer = {"error": [], "result": getattr(ex, f"_priv_{method}")(params, ks)}
                    except KrakenError as e:
                        answer = {"error": [e.message]}
            json.dumps(answer, allow_nan=False)  # a valid JSON answer (no NaN/inf leaked)
            seen["error" if answer["error"] else "ok"] += 1
    assert sum(seen.values()) == len(fields) * len(_VALUES)


def test_keep_alive_when_idle_past_timeout_then_server_closes_and_ccxt_reconnects(make_exchange):
    import ccxt

    from peaktrade.sim import ccxt_config

    with serve_in_thread(make_exchange(), request_timeout=0.3) as sim:
        k = ccxt.kraken(ccxt_config(sim.url, KEY, SECRET, timeout=int(PATIENCE * 1000)))
        try:
            first = k.fetch_balance()["total"]["USD"]
            time.sleep(0.8)  # the kept-alive connection is closed by the server meanwhile
            assert k.fetch_balance()["total"]["USD"] == first == 100000.0
        finally:
            k.session.close()


@pytest.mark.parametrize("price", ["1e308", "1" + "0" * 300, "1e13"])
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_add_order_when_limit_price_is_absurdly_large_then_kraken_error_and_nothing_placed(make_exchange, price, side):
    """A finite but absurd price used to overflow the order's description (OverflowError: a 500 over HTTP)."""
    ex = make_exchange(speed=0)
    answer = ex.call("AddOrder", pair="XBTUSD", type=side, ordertype="limit", volume="0.01", price=price)
    assert answer["error"] == ["EGeneral:Invalid arguments:price"]
    assert ex.orders == {}
    answer = ex.call("AddOrder", pair="XBTUSD", type=side, ordertype="limit", volume="0.01", price=price,
                     validate="true")
    assert answer["error"] == ["EGeneral:Invalid arguments:price"]
