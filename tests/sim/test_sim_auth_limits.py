"""API-Sign against Kraken's golden vector, nonces, key errors and the two rate counters."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.request

import pytest
from sim_test_support import KEY, SECRET

from peaktrade.sim import api_sign, ccxt_config, key_label
from peaktrade.sim._auth import DecayCounter, cancel_penalty

GOLDEN = {  # krakenfx/kraken-api-sdk rust/src/auth/signer.rs (reference §2.3)
    "secret": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
    "nonce": "1700000000000000000",
    "body": "nonce=1700000000000000000",
    "path": "/0/private/Balance",
    "sign": "6i7+cpXVLDDnDOekgsRcgFQhkYFyPDSSxhSVA8OrA6vjziXcy2K1DP3n7f9B/Kgni71WjBSQusZKxduRsdF20Q==",
}


def _post(url, path, body: bytes, *, key=KEY, sign=None, ctype="application/x-www-form-urlencoded"):
    req = urllib.request.Request(url + path, data=body, method="POST",
                                 headers={"API-Key": key, "API-Sign": sign or "", "Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
        return json.loads(r.read())


def _independent_sign(path: str, nonce: str, body: bytes, secret: str) -> str:
    inner = hashlib.sha256(nonce.encode() + body).digest()
    return base64.b64encode(hmac.new(base64.b64decode(secret), path.encode() + inner, hashlib.sha512).digest()).decode()


def test_api_sign_when_kraken_golden_vector_then_matches():
    g = GOLDEN
    assert api_sign(g["path"], g["body"], g["nonce"], g["secret"]) == g["sign"]
    assert _independent_sign(g["path"], g["nonce"], g["body"].encode(), g["secret"]) == g["sign"]


def test_private_call_when_golden_vector_request_then_accepted_and_tampered_rejected(sim):
    g = GOLDEN
    assert SECRET == g["secret"]
    out = _post(sim.url, g["path"], g["body"].encode(), sign=g["sign"])
    assert out["error"] == [] and out["result"]["ZUSD"] == "100000.0000"
    tampered = b"nonce=1700000000000000001"
    assert _post(sim.url, g["path"], tampered, sign=g["sign"]) == {"error": ["EAPI:Invalid signature"]}
    # the same (valid) request again: the nonce is no longer greater than the last accepted one
    assert _post(sim.url, g["path"], g["body"].encode(), sign=g["sign"]) == {"error": ["EAPI:Invalid nonce"]}


def test_private_call_when_json_body_then_signature_over_raw_bytes_accepted(sim):
    body = json.dumps({"nonce": "1800000000000", "pair": "XXBTZUSD", "type": "buy", "ordertype": "limit",
                       "volume": "0.001", "price": "25000", "validate": True}).encode()
    sign = _independent_sign("/0/private/AddOrder", "1800000000000", body, SECRET)
    out = _post(sim.url, "/0/private/AddOrder", body, sign=sign, ctype="application/json")
    assert out == {"error": [], "result": {"descr": {"order": "buy 0.00100000 XBTUSD @ limit 25000.0"}}}
    body2 = body.replace(b"0.001", b"0.002")
    assert _post(sim.url, "/0/private/AddOrder", body2, sign=sign, ctype="application/json")["error"] == [
        "EAPI:Invalid signature"]


def test_private_call_when_key_unknown_or_missing_then_invalid_key(sim):
    body = b"nonce=1"
    assert _post(sim.url, "/0/private/Balance", body, key="nope", sign="x")["error"] == ["EAPI:Invalid key"]
    assert _post(sim.url, "/0/private/Balance", body, key="", sign="x")["error"] == ["EAPI:Invalid key"]


def test_ccxt_when_credentials_wrong_then_kraken_errors_map_to_ccxt_classes(sim):
    import ccxt
    bad_key = ccxt.kraken(ccxt_config(sim.url, "other", SECRET))
    with pytest.raises(ccxt.AuthenticationError, match="EAPI:Invalid key"):
        bad_key.fetch_balance()
    bad_secret = ccxt.kraken(ccxt_config(sim.url, KEY, base64.b64encode(b"\x02" * 32).decode()))
    with pytest.raises(ccxt.ExchangeError, match="EAPI:Invalid signature"):
        bad_secret.fetch_balance()


def test_ccxt_when_nonce_goes_backwards_then_invalid_nonce(kraken):
    kraken.fetch_balance()
    kraken.incrementing_nonce = lambda: 1000
    with pytest.raises(__import__("ccxt").InvalidNonce):
        kraken.fetch_balance()


def test_decay_counter_when_time_passes_then_level_decays_linearly():
    c = DecayCounter(limit=15, decay=0.33)
    assert all(c.try_add(1, 0.0) for _ in range(15))
    assert not c.try_add(1, 0.0)
    assert c.level(3.0) == pytest.approx(15 - 0.99)
    assert c.try_add(0.99, 3.0) and not c.try_add(0.5, 3.0)
    assert c.level(100.0) == 0.0
    assert [cancel_penalty(a) for a in (0, 6, 12, 30, 60, 200, 400)] == [8, 6, 5, 4, 2, 1, 0]


def test_rest_counter_when_starter_limit_hit_then_rate_limit_exceeded_until_decayed(make_exchange):
    clock = [1000.0]
    ex = make_exchange(tier="starter", wall_clock=lambda: clock[0])
    import ccxt

    from peaktrade.sim import serve_in_thread
    with serve_in_thread(ex) as s:
        k = ccxt.kraken(ccxt_config(s.url, KEY, SECRET))
        for _ in range(15):
            k.fetch_balance()
        with pytest.raises(ccxt.DDoSProtection, match="EAPI:Rate limit exceeded"):
            k.fetch_balance()
        clock[0] += 1 / 0.33 + 0.01  # one call's worth decays at -0.33/s
        k.fetch_balance()
        with pytest.raises(ccxt.DDoSProtection):
            k.fetch_balance()
        clock[0] += 2 / 0.33 + 0.01
        k.fetch_my_trades()  # history calls cost 2
        with pytest.raises(ccxt.DDoSProtection):
            k.fetch_my_trades()
        assert s.exchange.state()["counters"][key_label(KEY)]["rest"] == pytest.approx(15.0, abs=0.05)


def test_trading_counter_when_orders_flood_one_pair_then_eorder_rate_limit_and_other_pair_free(make_exchange):
    clock = [0.0]
    ex = make_exchange(tier="starter", wall_clock=lambda: clock[0])
    for _ in range(60):
        assert ex.call("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.001",
                       price="20000", validate=True)["error"] == []
    r = ex.call("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.001", price="20000")
    assert r == {"error": ["EOrder:Rate limit exceeded"]}
    assert ex.call("AddOrder", pair="ETHUSD", type="buy", ordertype="limit", volume="0.01",
                   price="1000")["error"] == []
    clock[0] += 1.0  # starter decays 1/s
    assert ex.call("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.001",
                   price="20000")["error"] == []
