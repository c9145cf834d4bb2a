"""KrakenClient: error translation, retry with backoff, reconciliation by cl_ord_id, validate
enforcement, endpoint allow-list, secrets kept out of messages."""

from __future__ import annotations

import ccxt
import pytest
from kraken_fakes import FakeCcxtKraken, real_ccxt_with_transport

from peaktrade.adapters.base import ExchangeClient
from peaktrade.adapters.errors import (
    EndpointDenied,
    InvalidOrderError,
    OperationalError,
    OutcomeUnknown,
    RetryableError,
)
from peaktrade.adapters.kraken import (
    PUBLIC_DATA_RETRY,
    CcxtPublicClient,
    KrakenClient,
    RetryPolicy,
    classify,
    public_client,
)
from peaktrade.errors import PeakTradeError
from peaktrade.safety import SafetyGuard

SECRET = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
KEY = "MY-API-KEY-abcdef"


def sim_guard() -> SafetyGuard:
    return SafetyGuard("testnet", executor_kind="exchange")


def client_over(fake, *, sleeps=None, **kw) -> KrakenClient:
    sleeps = sleeps if sleeps is not None else []
    return KrakenClient(guard=kw.pop("guard", sim_guard()), base_url=kw.pop("base_url", "http://127.0.0.1:9"),
                        exchange=fake, api_key=KEY, api_secret=SECRET, sleep=sleeps.append, rand=lambda: 0.5,
                        retry=kw.pop("retry", RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=8.0)), **kw)


@pytest.mark.parametrize("exc, kind", [
    (ccxt.RequestTimeout("timeout"), RetryableError),
    (ccxt.NetworkError("reset"), RetryableError),
    (ccxt.DDoSProtection("kraken EAPI:Rate limit exceeded"), RetryableError),
    (ccxt.ExchangeNotAvailable("kraken EService:Unavailable"), RetryableError),
    (ccxt.InvalidNonce("kraken EAPI:Invalid nonce"), RetryableError),
    (ccxt.InvalidOrder("kraken EOrder:Order minimum not met"), InvalidOrderError),
    (ccxt.InsufficientFunds("kraken EOrder:Insufficient funds"), InvalidOrderError),
    (ccxt.ExchangeError("kraken EOrder:Cost minimum not met"), InvalidOrderError),
    (ccxt.ExchangeError("kraken EGeneral:Invalid arguments:ordertype"), InvalidOrderError),
    (ccxt.AuthenticationError("kraken EAPI:Invalid key"), OperationalError),
    (ccxt.ExchangeError("kraken EAPI:Invalid signature"), OperationalError),
    (ccxt.DDoSProtection("kraken EGeneral:Temporary lockout"), OperationalError),
    (ccxt.OnMaintenance("kraken EService:Market in cancel_only mode"), RetryableError),
    (ccxt.OnMaintenance("binance system maintenance"), RetryableError),
    (ccxt.PermissionDenied("kraken EGeneral:Permission denied"), OperationalError),
    (ccxt.ExchangeError("kraken something new"), OperationalError),
    (ValueError("boom"), OperationalError),
])
def test_classify_when_ccxt_error_then_one_of_three_kinds(exc, kind):
    assert classify(exc) is kind
    assert issubclass(kind, PeakTradeError)


def test_call_when_retryable_then_retried_with_exponential_backoff_and_jitter():
    fake = FakeCcxtKraken()
    fake.faults["fetch_ticker"] = [ccxt.RequestTimeout("t1"), ccxt.DDoSProtection("EAPI:Rate limit exceeded")]
    sleeps: list[float] = []
    t = client_over(fake, sleeps=sleeps).fetch_ticker("BTC/USD")
    assert t.last == 100.0 and fake.count("fetch_ticker") == 3
    assert sleeps == [0.75, 1.5]  # d/2 + 0.5*d/2 with d = 1, 2


def test_call_when_retryable_persists_then_gives_up_after_max_attempts():
    fake = FakeCcxtKraken()
    fake.faults["fetch_ticker"] = [ccxt.RequestTimeout("t")] * 10
    sleeps: list[float] = []
    with pytest.raises(RetryableError):
        client_over(fake, sleeps=sleeps).fetch_ticker("BTC/USD")
    assert fake.count("fetch_ticker") == 4 and len(sleeps) == 3
    assert sleeps == sorted(sleeps)


def test_call_when_not_retryable_then_raised_at_once_without_sleep():
    fake = FakeCcxtKraken()
    fake.faults["fetch_balance"] = [ccxt.AuthenticationError("kraken EAPI:Invalid key")]
    sleeps: list[float] = []
    with pytest.raises(OperationalError):
        client_over(fake, sleeps=sleeps).fetch_balance()
    assert fake.count("fetch_balance") == 1 and sleeps == []


def test_create_order_when_invalid_then_not_retried():
    fake = FakeCcxtKraken()
    fake.faults["create_order"] = [ccxt.InvalidOrder("kraken EOrder:Order minimum not met")]
    with pytest.raises(InvalidOrderError):
        client_over(fake).create_order("BTC/USD", "buy", "market", 1e-9, client_order_id="pt-min")
    assert fake.count("create_order") == 1


def test_create_order_when_timeout_after_venue_accepted_then_reconciled_and_not_placed_twice():
    fake = FakeCcxtKraken()
    fake.accept_then_fail = [ccxt.RequestTimeout("read timeout")]
    order = client_over(fake).create_order("BTC/USD", "buy", "market", 0.01, client_order_id="pt-once")
    assert fake.count("create_order") == 1 and len(fake.orders) == 1
    assert order.client_order_id == "pt-once" and order.status == "closed" and order.filled == 0.01


def test_create_order_when_timeout_before_venue_saw_it_then_resent_once_after_reconciling():
    fake = FakeCcxtKraken()
    fake.faults["create_order"] = [ccxt.RequestTimeout("connect timeout")]
    order = client_over(fake).create_order("BTC/USD", "sell", "market", 0.02, client_order_id="pt-twice")
    assert fake.count("create_order") == 2 and len(fake.orders) == 1
    assert fake.count("fetch_open_orders") == 1 and fake.count("fetch_closed_orders") == 1
    assert order.client_order_id == "pt-twice"


def test_reconcile_when_venue_ignores_the_filter_then_matched_by_client_order_id():
    fake = FakeCcxtKraken(ignore_cl_ord_id_filter=True)
    c = client_over(fake)
    c.create_order("BTC/USD", "buy", "market", 0.01, client_order_id="pt-other")
    fake.accept_then_fail = [ccxt.NetworkError("reset")]
    order = c.create_order("BTC/USD", "buy", "market", 0.03, client_order_id="pt-mine")
    assert order.client_order_id == "pt-mine" and order.amount == 0.03 and len(fake.orders) == 2


def test_create_order_when_reconciliation_impossible_then_outcome_unknown_and_not_resent():
    fake = FakeCcxtKraken()
    fake.accept_then_fail = [ccxt.RequestTimeout("timeout")]
    fake.faults["fetch_open_orders"] = [ccxt.RequestTimeout("t")] * 10
    with pytest.raises(OutcomeUnknown) as ei:
        client_over(fake).create_order("BTC/USD", "buy", "market", 0.01, client_order_id="pt-unknown")
    assert isinstance(ei.value, RetryableError) and "pt-unknown" in str(ei.value)
    assert fake.count("create_order") == 1


def test_many_timeouts_after_accept_never_duplicate():
    fake = FakeCcxtKraken()
    c = client_over(fake)
    for i in range(50):
        if i % 2 == 0:
            fake.accept_then_fail = [ccxt.RequestTimeout("t")]
        else:
            fake.faults["create_order"] = [ccxt.NetworkError("n")]
        c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id=f"pt-{i}")
    cids = [o["clientOrderId"] for o in fake.orders.values()]
    assert len(cids) == 50 and len(set(cids)) == 50


def test_cancel_when_retried_and_order_already_gone_then_read_back_as_the_venue_holds_it():
    fake = FakeCcxtKraken()
    fake.orders["O1"] = {"id": "O1", "clientOrderId": "pt-c", "status": "open", "symbol": "BTC/USD", "amount": 1.0}
    fake.faults["cancel_order"] = [ccxt.RequestTimeout("t")]
    c = client_over(fake)
    assert c.cancel_order(client_order_id="pt-c").status == "canceled"
    fake.orders["O1"].update(status="closed", filled=1.0, average=100.0)  # it filled meanwhile
    fake.faults["cancel_order"] = [ccxt.RequestTimeout("t")]
    o = c.cancel_order(client_order_id="pt-c")  # second attempt: EOrder:Unknown order -> read back
    assert (o.status, o.filled, o.client_order_id) == ("closed", 1.0, "pt-c")


def test_cancel_when_read_back_fails_then_outcome_unknown():
    fake = FakeCcxtKraken()
    fake.orders["O1"] = {"id": "O1", "clientOrderId": "pt-c", "status": "closed", "symbol": "BTC/USD"}
    fake.faults["fetch_open_orders"] = [ccxt.AuthenticationError("kraken POST 401 Unauthorized")]
    with pytest.raises(OutcomeUnknown, match="fills are unknown"):
        client_over(fake).cancel_order(client_order_id="pt-c")


@pytest.mark.parametrize("exc", [ccxt.AuthenticationError("kraken POST https://x/0/private/AddOrder 401 Unauthorized"),
                                 ccxt.ExchangeError("kraken POST https://x/0/private/AddOrder 422 Unprocessable"),
                                 ccxt.ExchangeError("kraken POST https://x/0/private/AddOrder 505 <html></html>"),
                                 ccxt.ExchangeError('kraken {"error":["EGeneral:Internal error"]}')])
def test_create_order_when_accepted_but_answered_without_a_venue_error_then_reconciled_and_returned(exc):
    fake = FakeCcxtKraken()
    fake.accept_then_fail = [exc]
    o = client_over(fake).create_order("BTC/USD", "buy", "market", 0.01, client_order_id="pt-amb")
    assert o.status == "closed" and o.filled == 0.01 and fake.count("create_order") == 1


def test_create_order_when_refused_by_the_venue_then_not_placed_without_a_lookup():
    fake = FakeCcxtKraken()
    fake.faults["create_order"] = [ccxt.InsufficientFunds('kraken {"error":["EOrder:Insufficient funds"]}')]
    with pytest.raises(InvalidOrderError) as ei:
        client_over(fake).create_order("BTC/USD", "buy", "market", 0.01, client_order_id="pt-ref")
    assert ei.value.not_placed and fake.count("fetch_open_orders") == 0


def test_create_order_when_bare_status_and_venue_holds_nothing_then_not_placed_after_the_lookup():
    fake = FakeCcxtKraken()
    fake.faults["create_order"] = [ccxt.AuthenticationError("kraken POST https://x/0/private/AddOrder 401 ")]
    with pytest.raises(OperationalError) as ei:
        client_over(fake).create_order("BTC/USD", "buy", "market", 0.01, client_order_id="pt-none")
    assert ei.value.not_placed and fake.count("fetch_open_orders") == 1 and fake.count("create_order") == 1


def test_port_when_checked_then_client_implements_it_and_maps_types():
    fake = FakeCcxtKraken()
    c = client_over(fake)
    assert isinstance(c, ExchangeClient)
    assert c.capabilities.validate_only_orders and not c.capabilities.has_testnet
    assert c.load_markets()["BTC/USD"].amount_min == 0.0001
    assert c.fetch_order_book("BTC/USD").bids[0] == (99.5, 1.0)
    assert c.fetch_balance().total["USD"] == 10_000.0
    o = c.create_order("BTC/USD", "buy", "market", 0.5, client_order_id="pt-x")
    assert c.fetch_order(o.id).filled == 0.5
    assert [t.amount for t in c.fetch_my_trades()] == [0.5]
    assert c.find_order("pt-x").id == o.id and c.find_order("pt-none") is None
    assert c.fetch_status()["status"] == "ok" and c.fetch_time() == fake.now_ms


def test_secrets_when_error_message_contains_them_then_masked_and_never_in_repr():
    fake = FakeCcxtKraken()
    fake.faults["fetch_balance"] = [ccxt.AuthenticationError(f"kraken bad key {KEY} secret {SECRET}")]
    c = client_over(fake)
    with pytest.raises(OperationalError) as ei:
        c.fetch_balance()
    text = str(ei.value) + repr(ei.value)
    assert KEY not in text and SECRET not in text and "***" in text
    assert ei.value.__cause__ is None and ei.value.__suppress_context__
    assert KEY not in repr(c) and SECRET not in repr(c) and KEY not in str(c)
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(c)


def test_no_guard_when_private_request_then_refused_before_sending():
    fake = FakeCcxtKraken()
    c = KrakenClient(guard=None, base_url="http://127.0.0.1:9", exchange=fake)
    with pytest.raises(EndpointDenied):
        c.fetch_balance()
    assert fake.count("fetch_balance") == 0
    assert c.fetch_ticker("BTC/USD").last == 100.0  # public data needs no guard



# -- one classifier, one retry loop: the downloader and the order path agree -----------------------------
@pytest.mark.parametrize("exc", [
    ccxt.OnMaintenance("kraken EService:Market in cancel_only mode"),
    ccxt.ExchangeNotAvailable("kraken EService:Unavailable"),
    ccxt.RequestTimeout("kraken timed out"),
    ccxt.RateLimitExceeded("kraken EAPI:Rate limit exceeded"),
    ccxt.BadSymbol("kraken does not have market symbol FOO/BAR"),
    ccxt.AuthenticationError("kraken EAPI:Invalid key"),
], ids=lambda e: type(e).__name__)
def test_same_ccxt_error_when_met_by_downloader_and_order_path_then_same_port_error_and_same_retry_decision(
        exc, tmp_path):
    from peaktrade.data import BarStore, download_ohlcv
    from peaktrade.errors import DataError

    kind = classify(exc)
    data = FakeCcxtKraken()
    data.faults["fetch_ohlcv"] = [exc] * 10
    reader = public_client("kraken", exchange=data, sleep=[].append, rand=lambda: 0.5,
                           retry=RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=8.0))
    with pytest.raises(DataError) as dl:
        download_ohlcv(reader, "BTC/USD", "1h", store=BarStore(tmp_path), progress=False)
    orders = FakeCcxtKraken()
    orders.faults["create_order"] = [exc] * 10
    with pytest.raises(PeakTradeError) as od:
        client_over(orders).create_order("BTC/USD", "buy", "market", 0.01, client_order_id="pt-same")
    assert type(dl.value.__cause__) is type(od.value) is kind
    retried = issubclass(kind, RetryableError)
    assert (data.count("fetch_ohlcv") == 4) is retried and (orders.count("create_order") == 4) is retried
    assert od.value.not_placed and orders.orders == {}  # the venue refused every attempt: nothing placed


def test_create_order_when_market_in_maintenance_then_reconciled_before_each_resend_and_not_placed():
    fake = FakeCcxtKraken()
    fake.faults["create_order"] = [ccxt.OnMaintenance('kraken {"error":["EService:Market in cancel_only mode"]}')] * 9
    with pytest.raises(RetryableError) as ei:
        client_over(fake).create_order("BTC/USD", "buy", "market", 0.01, client_order_id="pt-maint")
    assert ei.value.not_placed  # the venue said so, and the lookups found nothing
    assert fake.count("create_order") == 4 and fake.count("fetch_open_orders") == 4  # a lookup after each refusal


def test_public_client_when_kraken_then_keyless_port_client_refuses_private_calls_before_sending(monkeypatch):
    from kraken_fakes import RecordingTransport

    c = public_client("kraken")
    assert isinstance(c, KrakenClient) and isinstance(c, ExchangeClient) and c.public_only
    assert c.capabilities.ohlcv_history_limit == 720 and c.capabilities.ohlcv_latest_only
    assert c._ex.enableRateLimit and c.retry == PUBLIC_DATA_RETRY and "public only" in repr(c)
    c._ex.session = RecordingTransport()
    with pytest.raises(EndpointDenied, match="key-less"):
        c.fetch_balance()
    with pytest.raises(EndpointDenied, match="key-less"):
        c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-pub")
    with pytest.raises(EndpointDenied, match="key-less"):
        c._ex.fetch("https://api.kraken.com/0/private/AddOrder", "POST", {}, "pair=XBTUSD")  # any code path
    assert c._ex.session.private() == []
    with pytest.raises(EndpointDenied, match="takes no API credentials"):
        public_client("kraken", api_key=KEY, api_secret=SECRET)


def test_public_client_when_other_ccxt_exchange_then_capabilities_come_from_ccxt_and_private_calls_refused():
    c = public_client("binance")
    assert isinstance(c, CcxtPublicClient) and isinstance(c, ExchangeClient)
    caps = c.capabilities
    assert caps.venue == "binance" and caps.ohlcv_history_limit == 1000 and not caps.ohlcv_latest_only
    assert "1h" in caps.timeframes and c._ex.enableRateLimit
    for call in (c.fetch_balance, lambda: c.create_order("BTC/USDT", "buy", "market", 1.0, client_order_id="x"),
                 lambda: c.cancel_order(order_id="1"), c.fetch_open_orders, lambda: c.find_order("x")):
        with pytest.raises(EndpointDenied, match="binance client is key-less"):
            call()


def test_public_data_retry_when_errors_persist_then_backoff_doubles_and_is_capped_at_a_minute():
    delays = [PUBLIC_DATA_RETRY.delay(n, lambda: 1.0) for n in range(PUBLIC_DATA_RETRY.max_attempts + 3)]
    assert delays[:3] == [2.0, 4.0, 8.0] and max(delays) == 60.0


def test_core_data_code_when_reaching_a_venue_then_imports_only_the_port():
    import ast
    from pathlib import Path

    import peaktrade

    root = Path(peaktrade.__file__).parent
    bad = []
    for path in sorted((root / "data").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            port = ("peaktrade.adapters.base", "peaktrade.adapters.errors")
            bad += [f"{path.name}: {n}" for n in names
                    if n.split(".")[0] == "ccxt" or (n.startswith("peaktrade.adapters") and n not in port)]
    assert bad == []


# -- validate enforcement and the host allow-list over a real ccxt.kraken --------------------------------
def test_validate_mode_when_order_created_then_wire_carries_validate_true_and_cl_ord_id():
    c, wire = real_ccxt_with_transport(guard=sim_guard(), validate_only=True)
    order = c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-validate1")
    adds = [r for r in wire.private() if r["path"].endswith("/AddOrder")]
    assert len(adds) == 1 and adds[0]["host"] == "api.kraken.com"
    assert adds[0]["params"]["validate"] == "true" and adds[0]["params"]["cl_ord_id"] == "pt-validate1"
    assert order.validated_only and order.id is None and order.status == "validated"
    assert order.description.startswith("buy 0.001")


def test_testnet_guard_when_host_is_kraken_then_validate_is_forced_on():
    c, wire = real_ccxt_with_transport(guard=sim_guard(), validate_only=False)
    assert c.validate_only
    c.create_order("BTC/USD", "sell", "market", 0.002, client_order_id="pt-forced")
    assert wire.private()[0]["params"]["validate"] == "true"


def test_order_without_validate_to_live_host_when_any_code_path_sends_it_then_nothing_reaches_the_wire():
    c, wire = real_ccxt_with_transport(guard=sim_guard(), validate_only=True)
    c._ex.load_markets()
    before = len(wire.requests)
    with pytest.raises(EndpointDenied):
        c._ex.create_order("BTC/USD", "market", "buy", 0.001)  # a path that bypasses the adapter
    with pytest.raises(EndpointDenied):
        c._ex.create_order("BTC/USD", "market", "buy", 0.001, None, {"validate": False})
    assert len(wire.requests) == before and wire.private() == []


def test_testnet_when_private_non_validate_request_to_kraken_then_denied_before_sending():
    guard = sim_guard()
    c, wire = real_ccxt_with_transport(guard=guard, validate_only=True)
    with pytest.raises(EndpointDenied) as ei:
        c.fetch_balance()
    assert "api.kraken.com" in str(ei.value) and wire.private() == []
    assert any(not d.allowed and d.kind == "endpoint" for d in guard.decisions)


@pytest.mark.parametrize("url", ["http://10.0.0.8:8080", "https://api.kraken.com.evil.example"])
def test_testnet_when_host_not_allow_listed_then_every_private_request_refused(url):
    c, wire = real_ccxt_with_transport(guard=sim_guard(), base_url=url)
    assert c.validate_only  # not a testnet host: validate forced on
    with pytest.raises(EndpointDenied):
        c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-evil")
    with pytest.raises(EndpointDenied):
        c.fetch_balance()
    assert wire.private() == []


def test_paper_guard_when_private_request_then_refused():
    c, wire = real_ccxt_with_transport(guard=SafetyGuard("paper", executor_kind="paper"),
                                       base_url="http://127.0.0.1:9")
    with pytest.raises(EndpointDenied):
        c.fetch_balance()
    assert wire.private() == []


def test_loopback_sim_when_testnet_then_orders_are_placed_for_real():
    c, wire = real_ccxt_with_transport(guard=sim_guard(), base_url="http://127.0.0.1:9")
    assert not c.validate_only
    order = c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-sim1")
    add = wire.private()[0]
    assert add["host"] == "127.0.0.1" and "validate" not in add["params"] and add["params"]["cl_ord_id"] == "pt-sim1"
    assert order.id == "OAAAAA-BBBBB-CCCCCC"
    assert KEY not in repr(c)


def test_cl_ord_id_when_peaktrade_id_too_long_for_kraken_then_mapped_deterministically_and_reconciled():
    from peaktrade.adapters.kraken.client import kraken_cl_ord_id
    from peaktrade.orders.model import new_client_order_id

    cid = new_client_order_id()  # "pt-" + 24 hex: longer than Kraken's 18-character free format
    venue = kraken_cl_ord_id(cid)
    assert len(venue) == 32 and int(venue, 16) >= 0 and kraken_cl_ord_id(cid) == venue
    assert kraken_cl_ord_id("pt-short") == "pt-short"
    assert kraken_cl_ord_id("6d1b345e-2821-40e2-ad83-4ecb18a06876") == "6d1b345e-2821-40e2-ad83-4ecb18a06876"
    fake = FakeCcxtKraken()
    fake.accept_then_fail = [ccxt.RequestTimeout("t")]
    order = client_over(fake).create_order("BTC/USD", "buy", "market", 0.01, client_order_id=cid)
    assert order.client_order_id == cid and fake.count("create_order") == 1
    assert [o["clientOrderId"] for o in fake.orders.values()] == [venue]


def test_client_when_handed_a_real_ccxt_exchange_at_kraken_then_its_transport_is_guarded(monkeypatch):
    """``exchange=`` is documented for tests, but a real ``ccxt.kraken`` handed in still sends over HTTP, to
    its own URLs (Kraken's), whatever ``base_url`` says: the URL it actually sends to is checked."""
    from kraken_fakes import RecordingTransport

    monkeypatch.delenv("KRAKEN_API_KEY", raising=False)
    ex = ccxt.kraken({"apiKey": KEY, "secret": SECRET, "enableRateLimit": False})
    ex.session = RecordingTransport()
    c = KrakenClient(guard=sim_guard(), base_url="http://127.0.0.1:9", exchange=ex, order_deadline=None)
    assert not c.validate_only  # loopback is a testnet host: orders would be placed
    with pytest.raises(EndpointDenied, match="api.kraken.com is a live kraken host"):
        c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-injected1")
    assert ex.session.private() == []  # not one private request reached api.kraken.com


def test_simulator_client_when_handed_an_exchange_holding_the_live_key_then_refused(monkeypatch):
    monkeypatch.setenv("KRAKEN_API_KEY", KEY)
    ex = ccxt.kraken({"apiKey": KEY, "secret": SECRET})
    with pytest.raises(EndpointDenied, match="live KRAKEN_API_"):
        KrakenClient(guard=sim_guard(), base_url="http://127.0.0.1:9", exchange=ex, simulator=True,
                     api_key="sim-key", api_secret=SECRET)


def test_amend_order_when_sent_with_validate_to_kraken_in_testnet_then_refused_before_sending():
    """Kraken documents no ``validate`` for AmendOrder: with it the request would amend a real order, so the
    flag does not make it validate-only (a raw ccxt call from a testnet session)."""
    c, wire = real_ccxt_with_transport(guard=sim_guard())
    assert c.validate_only  # Kraken's URL in testnet
    with pytest.raises(EndpointDenied, match="refused before sending"):
        c._ex.private_post_amendorder({"txid": "OAAAAA-BBBBB-CCCCCC", "order_qty": "5", "validate": "true"})
    assert wire.private() == []
    c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-still-validates")  # AddOrder still passes
    assert [r["params"].get("validate") for r in wire.private()] == ["true"]


@pytest.mark.parametrize("body", [
    "nonce=1&ordertype=market&pair=XXBTZUSD&type=buy&volume=1&validate=false&validate=true",
    '{"nonce": "1", "validate": false, "validate": true, "orders": []}',
])
def test_order_when_body_repeats_validate_then_not_taken_as_validate_only_and_refused(body):
    """Which of two ``validate`` values the venue reads is unknown: a repeated key proves nothing (raw request
    from a testnet session to Kraken, where only validate-only orders may go)."""
    c, wire = real_ccxt_with_transport(guard=sim_guard())
    method = "AddOrderBatch" if body.startswith("{") else "AddOrder"
    with pytest.raises(EndpointDenied, match="refused before sending"):
        c._ex.fetch(f"https://api.kraken.com/0/private/{method}", "POST", {"API-Key": KEY}, body)
    assert wire.private() == []
