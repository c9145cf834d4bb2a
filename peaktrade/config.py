"""Typed settings.

Resolution of the config file: explicit ``path`` → ``PEAK_TRADE_CONFIG_PATH`` → ``config/config.toml``
of the project (searched upwards from the working directory) → the built-in defaults, which equal
``config/config.toml``. Then environment overrides ``PEAKTRADE__SECTION__KEY=value`` are applied (the
value is read as a TOML literal when it parses as one, else as a string). Unknown keys and wrong types
are rejected with a :class:`~peaktrade.errors.ConfigError` naming the key, the value and the source.

Secrets (exchange API keys) never come from config files: only from the process environment or a
git-ignored ``.env`` file in the project root. :meth:`Config.sanitized` masks them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from peaktrade.errors import ConfigError

ENV_PATH_VAR = "PEAK_TRADE_CONFIG_PATH"
ENV_PREFIX = "PEAKTRADE__"
#: Environment variables read as secrets (also from ``.env``), mapped to ``Secrets`` fields.
SECRET_VARS = {"KRAKEN_API_KEY": "kraken_api_key", "KRAKEN_API_SECRET": "kraken_api_secret",
               "PEAKTRADE_ALERT_URLS": "alert_urls", "PEAKTRADE_DASHBOARD_TOKEN": "dashboard_token"}
MASK = "***"
#: Environment variable naming the per-user safety state directory when ``[safety] state_dir`` is unset.
STATE_DIR_VAR = "PEAKTRADE_STATE_DIR"


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Return the per-user safety state directory: ``$PEAKTRADE_STATE_DIR``, else
    ``$XDG_STATE_HOME/peaktrade``, else ``~/.local/state/peaktrade`` — never relative to the working directory.
    """
    env = os.environ if env is None else env
    if env.get(STATE_DIR_VAR):
        p = Path(env[STATE_DIR_VAR]).expanduser()
        if not p.is_absolute():
            raise ConfigError(f"{STATE_DIR_VAR}={env[STATE_DIR_VAR]!r} is invalid: expected an absolute path "
                              "(safety state must not depend on the working directory)")
        return p
    xdg = env.get("XDG_STATE_HOME", "")
    if xdg and Path(xdg).is_absolute():  # the XDG spec: a relative value is ignored
        return Path(xdg) / "peaktrade"
    home = env.get("HOME") or str(Path.home())
    return Path(home).expanduser() / ".local" / "state" / "peaktrade"


def _absolute_or_none(v: Path | None, what: str) -> Path | None:
    if v is None:
        return None
    p = Path(v).expanduser()
    if not p.is_absolute():
        raise ValueError(f"{what} must be an absolute path (or ~/...), not relative: safety state is one directory "
                         "per user, shared by every process whatever its working directory; leave it unset for "
                         f"the default (${STATE_DIR_VAR}, $XDG_STATE_HOME/peaktrade or ~/.local/state/peaktrade)")
    return p


# pydantic looks for plugins (the entry points of every installed distribution: 0.1-0.3 s, at each start of the
# CLI) when it builds the first model; the config models use none, so the search is off while they are built
# here and the user's setting is restored after them (models defined elsewhere see plugins as usual).
_PLUGINS_VAR = "PYDANTIC_DISABLE_PLUGINS"
_plugins_setting = os.environ.get(_PLUGINS_VAR)
os.environ[_PLUGINS_VAR] = "__all__"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _unsafe(key: str, value: Any, why: str) -> PydanticCustomError:
    """Return the one-line error of an endpoint setting that could reach a live venue (names key and value)."""
    return PydanticCustomError("unsafe_endpoint", "{detail}", {"detail": f"{key} = {value!r} is refused: {why}",
                                                               "key": key})


def _no_live_hosts(key: str, hosts: list[str]) -> list[str]:
    from peaktrade.adapters.hosts import live_venue_of

    for h in hosts:
        venue = live_venue_of(h)
        if venue is not None:
            raise _unsafe(key, h, f"{h} is a live {venue} host (from the adapter's capabilities); "
                                  "a live host can never be a testnet or simulator host")
    return hosts


class DataConfig(_Section):
    dir: Path = Path("data")
    gaps: Literal["keep", "fill"] = "keep"
    exchange: str = "kraken"


class BacktestConfig(_Section):
    init_cash: float = Field(10_000.0, gt=0)
    fees: float = Field(0.0026, ge=0, lt=1)
    slippage: float = Field(0.0005, ge=0, lt=1)
    execution: Literal["next_open", "close"] = "next_open"


#: Units of a size in ``[sweep] max_memory`` (decimal and binary).
_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "k": 2**10, "kib": 2**10, "m": 2**20, "mib": 2**20, "g": 2**30, "gib": 2**30, "t": 2**40, "tib": 2**40}
#: Share of this machine's memory a sweep may plan to hold when ``[sweep] max_memory = "auto"``: the rest is
#: for the OS, the other processes and what the estimate does not see (Python objects, allocator slack).
AUTO_MEMORY_SHARE = 0.5


def machine_memory() -> int:
    """Return the bytes of memory this process can use: physical RAM, or a smaller cgroup (container) limit."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX: psutil when installed, else a modest guess
        try:
            import psutil

            total = int(psutil.virtual_memory().total)
        except ImportError:
            total = 8 * 2**30
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and 0 < int(raw) < total:
            total = int(raw)
        break
    return int(total)


def parse_size(value: Any, *, key: str = "size") -> int:
    """Return a byte count from an int (bytes) or a size such as ``"8GiB"``, ``"512 MB"``, ``"2g"``."""
    if isinstance(value, bool):
        raise ValueError(f"{key} = {value!r} is invalid: expected bytes (an int) or a size such as \"8GiB\"")
    if isinstance(value, (int, float)) and value > 0 and float(value).is_integer():
        return int(value)
    if isinstance(value, str):
        import re

        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", value)
        if m and m.group(2).lower() in _SIZE_UNITS and float(m.group(1)) > 0:
            return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    raise ValueError(f"{key} = {value!r} is invalid: expected a positive number of bytes or a size such as "
                     "\"8GiB\", \"512MB\" (units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)")


class SweepConfig(_Section):
    #: Refuse a sweep (``peaktrade sweep``, ``sweep(...)``) whose estimated memory exceeds this: bytes, a
    #: size ("8GiB"), or "auto" = AUTO_MEMORY_SHARE of :func:`machine_memory`.
    max_memory: int | Literal["auto"] = "auto"

    @field_validator("max_memory", mode="before")
    @classmethod
    def _size(cls, v: Any) -> int | str:
        return v if v == "auto" else parse_size(v, key="sweep.max_memory")

    def memory_limit(self) -> tuple[int, str]:
        """Return the limit in bytes and where it came from (for messages)."""
        if self.max_memory == "auto":
            total = machine_memory()
            return int(total * AUTO_MEMORY_SHARE), (f"[sweep] max_memory = \"auto\": {AUTO_MEMORY_SHARE:.0%} of this "
                                                    f"machine's {total / 2**30:.1f} GiB")
        return int(self.max_memory), "[sweep] max_memory"


class ComputeConfig(_Section):
    #: Where sweeps, walk-forward folds, optimizer batches and experiment runs go when no ``--cluster`` is
    #: given: "local" (in process, numba threads; the embedded default) or "dask" (``cluster``).
    backend: Literal["local", "dask"] = "local"
    #: The Dask cluster of ``backend = "dask"``: "local:N" (N worker processes on this machine) or a scheduler
    #: address "tcp://HOST:PORT"; unset: "local:<cores>".
    cluster: str | None = None
    #: Combinations per task of a distributed sweep (the unit that is cached and resumed).
    chunk: int = Field(1000, ge=1)
    #: Cache each finished chunk on disk, so a killed sweep resumes (docs/scale.md).
    cache: bool = True
    #: Where chunks are cached (relative paths are relative to the project root); unset: ``<runs dir>/cache/sweep``.
    cache_dir: Path | None = None


class TrackingConfig(_Section):
    #: MLflow tracking URI; a relative ``sqlite:///`` path is relative to the project root.
    #: ``MLFLOW_TRACKING_URI`` in the environment takes precedence.
    uri: str = "sqlite:///mlruns.db"
    #: Where MLflow stores artifacts of experiments peaktrade creates (relative to the root).
    artifacts: Path = Path("mlartifacts")
    experiment: str = "peaktrade"
    #: Child runs logged under a sweep's parent run (the best N by the ranking metric).
    sweep_top_n: int = Field(5, ge=0, le=100)


class TrackingServerConfig(_Section):
    """``peaktrade mlflow server``: a shared MLflow tracking server (docs/tracking.md). Options and the
    ``MLFLOW_*`` variables ``mlflow server`` reads take precedence over these keys."""

    #: Where runs are stored: ``postgresql://USER@HOST:PORT/DB`` for a shared server (the password comes from
    #: ``MLFLOW_BACKEND_STORE_URI``, ``PGPASSWORD`` or ``~/.pgpass``, never from this file); empty = the
    #: project's own ``[tracking] uri`` store (SQLite by default).
    backend_store_uri: str = ""
    #: Where the server keeps artifacts: a directory (relative to the project root) or an ``s3://`` URI (an
    #: S3-compatible store: ``MLFLOW_S3_ENDPOINT_URL``); empty = ``[tracking] artifacts``.
    artifacts_destination: str = ""
    #: Address to bind: loopback unless told otherwise.
    host: str = "127.0.0.1"
    port: int = Field(5000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)

    @field_validator("backend_store_uri")
    @classmethod
    def _no_password(cls, v: str) -> str:
        from peaktrade._uri_secrets import has_password

        # every form a consumer reads (user info as SQLAlchemy parses it, ?password=, conninfo), never echoed
        if has_password(v.strip()):
            raise PydanticCustomError("unsafe_endpoint", "{detail}", {
                "key": "tracking_server.backend_store_uri",
                "detail": "tracking_server.backend_store_uri holds a password and is refused: a password in the "
                          "config is a secret in a committed file; give the URI in MLFLOW_BACKEND_STORE_URI or the "
                          "password in PGPASSWORD or ~/.pgpass"})
        return v.strip()


class ReportsConfig(_Section):
    dir: Path = Path("reports")


class RunsConfig(_Section):
    #: Run logs of paper/shadow/testnet/live sessions: <dir>/<run_id>/{meta.json,events.jsonl}.
    dir: Path = Path("runs")


class StrategiesConfig(_Section):
    #: Folders of the user's own strategies (relative paths are relative to the project root); every
    #: ``*.py`` in them not starting with ``_`` is loaded (docs/strategies.md). The first one is where
    #: ``peaktrade strategies new`` writes.
    paths: list[Path] = Field(default_factory=lambda: [Path("strategies")])


class DemoConfig(_Section):
    symbol: str = "BTC/USD"
    timeframe: str = "1h"
    bars: int = Field(20_000, ge=100)
    seed: int = 7


class LiveRampConfig(_Section):
    """``[live.ramp]``: for the first ``days`` days after the account's first live session, every order's
    notional and the position it leaves (at the executable price) are capped at ``max_notional`` (quote
    currency). Only the config file sets it (never an environment override); ``days = 0`` turns it off."""

    days: int = Field(14, ge=0, le=365)
    max_notional: float = Field(100.0, gt=0)


class LiveConfig(_Section):
    """Gates of the ``live`` environment (see docs/safety.md). Live trading needs every gate open."""

    #: Gate 1: live trading is off unless the config says so.
    enabled: bool = False
    #: Gate 2: this environment variable must be set, for the process, to the config hash
    #: (``peaktrade live gates`` prints it), so a stale shell variable cannot arm another config.
    arm_env: str = Field("PEAKTRADE_LIVE_ARMED", pattern=r"^[A-Z][A-Z0-9_]*$")
    #: Readiness: the largest tolerated difference between the exchange clock and ours.
    max_clock_skew_seconds: float = Field(2.0, gt=0)
    #: Hosts a live session may reach (exact host names).
    hosts: list[str] = ["api.kraken.com"]
    #: The ramp of the first live days: a notional cap on every order and position (see peaktrade/live/runner.py).
    ramp: LiveRampConfig = Field(default_factory=lambda: LiveRampConfig())


#: Upper bounds of the safety settings (a config beyond them weakens the safety net; refused).
MAX_PRICE_DEVIATION_CAP = 0.2
MAX_DEADMAN_TIMEOUT = 600.0


class RiskConfig(_Section):
    """Pre-trade and per-session limits (quote currency). Unset = no limit in paper/shadow;
    testnet and live refuse to start unless every limit is set (:meth:`require_limits_for`)."""

    max_order_notional: float | None = Field(None, gt=0)
    max_position_notional: float | None = Field(None, gt=0)
    max_total_exposure: float | None = Field(None, gt=0)
    max_open_positions: int | None = Field(None, ge=1)
    #: Daily loss (UTC trading day) against start-of-day equity: absolute and in percent.
    max_daily_loss: float | None = Field(None, gt=0)
    max_daily_loss_pct: float | None = Field(None, gt=0, le=100)
    #: Orders per minute of market time (sliding 60 s window).
    max_orders_per_minute: int | None = Field(None, ge=1)
    #: Price collar: an order whose price (a limit order's limit; a market order's touch: ask for a buy,
    #: bid for a sell) deviates from the venue's mid by more than this fraction is denied at the wire.
    #: Checked by the adapter right before an order is sent, against a mid fetched then; no mid: denied.
    #: At most ``MAX_PRICE_DEVIATION_CAP`` (0.2): a wider collar no longer catches a bad price.
    max_price_deviation: float | None = 0.05
    #: What a daily-loss breach engages: "halt" (nothing passes) or "reduce" (only reducing orders).
    on_daily_loss: Literal["halt", "reduce"] = "halt"
    #: Environments the limits apply to. Testnet and live always (fail closed: refused without them);
    #: dropping paper/shadow lets research sessions size orders freely while testnet stays capped.
    applies_to: list[Literal["paper", "shadow", "testnet", "live"]] = ["paper", "shadow", "testnet", "live"]

    @field_validator("max_price_deviation")
    @classmethod
    def _collar_in_range(cls, v: float | None) -> float | None:
        if v is not None and not 0 < v <= MAX_PRICE_DEVIATION_CAP:
            raise ValueError(f"[risk] max_price_deviation={v} is invalid: expected a fraction in "
                             f"(0, {MAX_PRICE_DEVIATION_CAP}] (0.05 = 5 %)")
        return v

    @field_validator("applies_to")
    @classmethod
    def _applies_where_orders_are_sent(cls, v: list[str]) -> list[str]:
        if not {"testnet", "live"} <= set(v):
            raise ValueError(f"must include 'testnet' and 'live' (orders reach a venue there), got {v}")
        return v

    def for_environment(self, environment: str) -> RiskConfig:
        """Return these limits in ``environment``, or none (only paper/shadow can be left out of ``applies_to``)."""
        env = str(getattr(environment, "value", environment))
        if env in self.applies_to:
            return self
        return RiskConfig(on_daily_loss=self.on_daily_loss, applies_to=self.applies_to,
                          max_price_deviation=self.max_price_deviation)

    def missing_limits(self) -> list[str]:
        """Return the names of the limits that are not set (daily loss: either form counts)."""
        names = ["max_order_notional", "max_position_notional", "max_total_exposure", "max_open_positions",
                 "max_orders_per_minute"]
        out = [n for n in [*names, "max_price_deviation"] if getattr(self, n) is None]
        if self.max_daily_loss is None and self.max_daily_loss_pct is None:
            out.append("max_daily_loss or max_daily_loss_pct")
        return out

    def require_limits_for(self, environment: str) -> None:
        """Raise :class:`ConfigError` when ``environment`` is testnet or live and a limit is unset."""
        env = str(getattr(environment, "value", environment))
        missing = self.missing_limits()
        if env in ("testnet", "live") and missing:
            raise ConfigError(f"[risk] {', '.join(missing)} not set: the {env} environment refuses to start "
                              "without every risk limit configured")


class SafetyConfig(_Section):
    """Safety layer: persisted state (kill switch), audit trail and endpoint allow-lists."""

    #: Kill switch, audit trail, daily P&L and testnet budgets: one directory per user, absolute. Unset:
    #: ``$PEAKTRADE_STATE_DIR``, else ``$XDG_STATE_HOME/peaktrade``, else ``~/.local/state/peaktrade``.
    state_dir: Path | None = None
    #: Append every safety decision (allow and deny) to ``<state_dir>/audit.jsonl``.
    audit: bool = True
    #: Hosts a testnet session may reach (exact host names).
    testnet_hosts: list[str] = ["127.0.0.1", "localhost", "::1"]
    #: Hosts a testnet session may reach only for validate-only requests (orders checked, never placed).
    validate_hosts: list[str] = ["api.kraken.com"]
    #: Dead-man switch (Kraken CancelAllOrdersAfter) of sessions that place orders: armed at start with this
    #: timeout (seconds) and re-armed every ``deadman_refresh`` seconds; a session that dies (kill -9, crash,
    #: lost network) gets every open order of the account cancelled at the timeout.
    #: At most ``MAX_DEADMAN_TIMEOUT`` (600 s): orphaned orders of a dead session must not rest for hours.
    deadman_timeout: float = 60.0
    #: At most a third of the timeout: two re-arms may fail before the switch would fire.
    deadman_refresh: float = 15.0

    @model_validator(mode="after")
    def _refresh_before_timeout(self) -> SafetyConfig:
        t, r = self.deadman_timeout, self.deadman_refresh
        if not 1 <= t <= MAX_DEADMAN_TIMEOUT:
            raise ValueError(f"[safety] deadman_timeout={t} is invalid: expected 1..{MAX_DEADMAN_TIMEOUT:g} seconds")
        if not 0 < r <= t / 3:
            raise ValueError(f"[safety] deadman_refresh={r} is invalid: expected 0 < refresh <= deadman_timeout/3 "
                             f"= {t / 3:g} seconds (two re-arms may fail before the switch fires)")
        return self

    @field_validator("testnet_hosts")
    @classmethod
    def _testnet_hosts_not_live(cls, v: list[str]) -> list[str]:
        return _no_live_hosts("safety.testnet_hosts", v)

    @field_validator("state_dir")
    @classmethod
    def _state_dir_absolute(cls, v: Path | None) -> Path | None:
        return _absolute_or_none(v, "state_dir")


class MonitorConfig(_Section):
    """Session liveness and the monitors that watch it (see docs/monitoring.md)."""

    #: Every session writes a ``heartbeat`` event at least this often (seconds), from its run loop, so a
    #: hung or killed session stops heartbeating; the watchdog raises "heartbeat missed" after two intervals.
    heartbeat_seconds: float = Field(30.0, gt=0)
    #: Address ``peaktrade dashboard`` binds (loopback by default; put a reverse proxy in front).
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(8765, ge=1, le=65535)


class ScheduleConfig(_Section):
    """Scheduled runs (``peaktrade schedule``, docs/scheduling.md): systemd user timers or crontab lines."""

    #: ``auto``: systemd user timers where systemd runs (``/run/systemd/system``), else a crontab line.
    backend: Literal["auto", "systemd", "cron"] = "auto"
    #: Where the ``.service`` / ``.timer`` units are written (absolute or ``~/``); unset: ``~/.config/systemd/user``.
    unit_dir: Path | None = None
    #: Run ``systemctl --user daemon-reload`` / ``enable --now`` / ``disable --now`` after writing or removing
    #: units; false: only write the units and print the commands to run.
    systemctl: bool = True
    #: A crontab file to edit instead of the user's crontab (``crontab -l`` / ``crontab -``); absolute or ``~/``.
    crontab_file: Path | None = None

    @field_validator("unit_dir", "crontab_file")
    @classmethod
    def _paths_absolute(cls, v: Path | None, info: Any) -> Path | None:
        if v is not None and not Path(v).expanduser().is_absolute():
            raise ValueError(f"schedule.{info.field_name} must be an absolute path (or ~/...): a timer or cron "
                             "job does not run in the directory you run peaktrade from")
        return None if v is None else Path(v).expanduser()


class AlertsConfig(_Section):
    """Alert rules; destinations are secrets: ``PEAKTRADE_ALERT_URLS`` (environment or ``.env``)."""

    #: Send alerts at all (still needs destinations).
    enabled: bool = True
    #: Event kinds that alert (``peaktrade alerts kinds`` lists them); empty: every kind.
    events: list[str] = []
    #: Least severity that alerts: info, warning, error or critical.
    min_severity: str = Field("warning", pattern=r"^(info|warning|error|critical)$")
    #: At most this many alerts per minute (the rest go to the dead-letter file, marked rate_limited).
    rate_limit_per_minute: int = Field(20, ge=1)
    #: An alert equal to one sent (same run, kind and message) within this many seconds is dropped.
    dedup_seconds: float = Field(300.0, ge=0)
    #: Budget usage (fraction of a cap) from which "budget near its limit" is raised.
    budget_near_fraction: float = Field(0.8, gt=0, le=1)
    #: A polled session whose newest bar is older than this many bar intervals raises "data stale".
    stale_bars: float = Field(3.0, gt=0)
    #: Delivery attempts per destination (with exponential backoff) before the dead-letter file.
    retries: int = Field(3, ge=1, le=10)
    #: Seconds one delivery attempt may take (connect and read).
    timeout_seconds: float = Field(5.0, gt=0)
    #: At process exit, wait at most this long for alerts still queued (then they are dead-lettered).
    exit_grace_seconds: float = Field(10.0, ge=0)


TESTNET_MODES = ("kraken-validate", "kraken-sim")


class TestnetProfileConfig(_Section):
    """One named testnet run: a strategy on a market for a while, within its own caps."""

    strategy: str
    #: Strategy parameters by name (stops too).
    parameters: dict[str, float | int | str | bool] = {}
    symbol: str = "BTC/USD"
    timeframe: str = "1m"
    #: Longest run, in seconds (also capped by ``[testnet] max_run_seconds``).
    duration: float = Field(3600.0, gt=0)
    #: Caps of one run of this profile (also capped by the ``[testnet]`` per-run limits).
    max_notional: float = Field(100.0, gt=0)
    max_trades: int = Field(10, ge=1)
    #: Notional of each entry order (quote currency); exits close the whole position.
    order_notional: float = Field(20.0, gt=0)


class TestnetConfig(_Section):
    """Testnet (see docs/testnet.md): where orders go and the budgets they are held to.

    Kraken spot has no testnet: ``kraken-validate`` sends every order to the real API with
    ``validate=true`` (checked, never placed; fills simulated locally from live prices);
    ``kraken-sim`` trades against the local Kraken-protocol simulator at ``sim_url``.
    """

    mode: Literal["kraken-validate", "kraken-sim"] = "kraken-validate"
    #: Base URL of the local simulator (ccxt appends /0/public/... and /0/private/...). Loopback only,
    #: unless its host is named in ``sim_hosts``; never a live venue host.
    sim_url: str = "http://127.0.0.1:8765"
    #: Non-loopback hosts a simulator may run on (explicit opt-in; a live venue host is refused).
    sim_hosts: list[str] = []
    #: Budgets: notional in the quote currency, trades = orders sent.
    max_run_notional: float = Field(200.0, gt=0)
    max_run_trades: int = Field(20, ge=1)
    max_daily_notional: float = Field(1000.0, gt=0)
    max_daily_trades: int = Field(100, ge=1)
    #: Longest testnet run, in seconds.
    max_run_seconds: float = Field(4 * 3600.0, gt=0)
    #: Symbols a testnet run may trade.
    symbols: list[str] = ["BTC/USD", "ETH/USD"]
    #: SQLite file holding budget usage (absolute); unset: ``<[safety] state_dir>/testnet_budget.sqlite``.
    budget_db: Path | None = None
    #: Starting cash of a testnet run's ledger (quote currency).
    init_cash: float = Field(1000.0, gt=0)
    profiles: dict[str, TestnetProfileConfig] = {
        "sma-btc-1m": TestnetProfileConfig(strategy="ma_crossover", parameters={"fast": 5, "slow": 20},
                                           symbol="BTC/USD", timeframe="1m", duration=1800.0,
                                           max_notional=100.0, max_trades=10, order_notional=20.0),
    }

    @field_validator("sim_hosts")
    @classmethod
    def _sim_hosts_not_live(cls, v: list[str]) -> list[str]:
        return _no_live_hosts("testnet.sim_hosts", v)

    @model_validator(mode="after")
    def _sim_url_safe(self) -> TestnetConfig:
        from peaktrade.adapters.hosts import sim_url_problem

        why = sim_url_problem(self.sim_url, self.sim_hosts)
        if why is not None:
            raise _unsafe("testnet.sim_url", self.sim_url, why)
        return self

    @field_validator("budget_db")
    @classmethod
    def _budget_db_absolute(cls, v: Path | None) -> Path | None:
        return _absolute_or_none(v, "budget_db")


class Secrets(_Section):
    kraken_api_key: SecretStr | None = None
    kraken_api_secret: SecretStr | None = None
    alert_urls: SecretStr | None = None
    dashboard_token: SecretStr | None = None


class Config(_Section):
    """The whole validated configuration. ``root`` is the project root relative paths resolve against."""

    data: DataConfig = DataConfig()
    backtest: BacktestConfig = BacktestConfig()
    sweep: SweepConfig = SweepConfig()
    compute: ComputeConfig = ComputeConfig()
    demo: DemoConfig = DemoConfig()
    tracking: TrackingConfig = TrackingConfig()
    tracking_server: TrackingServerConfig = TrackingServerConfig()
    reports: ReportsConfig = ReportsConfig()
    runs: RunsConfig = RunsConfig()
    strategies: StrategiesConfig = StrategiesConfig()
    live: LiveConfig = LiveConfig()
    risk: RiskConfig = RiskConfig()
    safety: SafetyConfig = SafetyConfig()
    testnet: TestnetConfig = TestnetConfig()
    monitor: MonitorConfig = MonitorConfig()
    alerts: AlertsConfig = AlertsConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    secrets: Secrets = Field(default_factory=Secrets, exclude=True)
    root: Path = Field(default_factory=Path.cwd, exclude=True)
    source: str = Field("<defaults>", exclude=True)

    @model_validator(mode="after")
    def _testnet_never_live(self) -> Config:
        """A host in ``[live] hosts`` is live too: never a testnet host or a simulator's host."""
        from peaktrade.adapters.hosts import normalize_host, url_host

        live = {normalize_host(h) for h in self.live.hosts}
        for key, hosts in (("safety.testnet_hosts", self.safety.testnet_hosts),
                           ("testnet.sim_hosts", self.testnet.sim_hosts)):
            for h in hosts:
                if normalize_host(h) in live:
                    raise _unsafe(key, h, f"{h} is in [live] hosts; a live host can never be a testnet or "
                                          "simulator host")
        if (url_host(self.testnet.sim_url) or "") in live:
            raise _unsafe("testnet.sim_url", self.testnet.sim_url, "its host is in [live] hosts; a simulator is "
                                                                    "never a live venue")
        return self

    def resolve_path(self, p: Path) -> Path:
        """Return ``p`` made absolute against the project root."""
        p = p.expanduser()
        return p if p.is_absolute() else (self.root / p)

    @property
    def data_dir(self) -> Path:
        """Return the absolute data directory."""
        return self.resolve_path(self.data.dir)

    @property
    def state_dir(self) -> Path:
        """Return the per-user safety state directory (``[safety] state_dir``, else :func:`default_state_dir`)."""
        return self.safety.state_dir if self.safety.state_dir is not None else default_state_dir()

    @property
    def budget_db_path(self) -> Path:
        """Return the testnet budget database (``[testnet] budget_db``, else in :attr:`state_dir`)."""
        return self.testnet.budget_db if self.testnet.budget_db is not None else \
            self.state_dir / "testnet_budget.sqlite"

    @property
    def runs_dir(self) -> Path:
        """Return the absolute run-log directory."""
        return self.resolve_path(self.runs.dir)

    @property
    def chunk_cache_dir(self) -> Path:
        """Return the absolute chunk cache directory of distributed sweeps (``[compute] cache_dir``)."""
        return self.resolve_path(self.compute.cache_dir) if self.compute.cache_dir is not None else \
            self.runs_dir / "cache" / "sweep"

    @property
    def strategy_dirs(self) -> list[Path]:
        """Return the absolute user strategy folders, in ``[strategies] paths`` order."""
        return [self.resolve_path(p) for p in self.strategies.paths]

    @property
    def reports_dir(self) -> Path:
        """Return the absolute reports directory."""
        return self.resolve_path(self.reports.dir)

    def sanitized(self) -> dict[str, Any]:
        """Return the config as plain data with every secret masked, safe to log anywhere."""
        out = self.model_dump(mode="json")
        out["secrets"] = {k: (MASK if v is not None else None) for k, v in self.secrets}
        return out

    def config_hash(self) -> str:
        """Return a stable short hash of the non-secret settings (key order and secrets do not matter)."""
        payload = self.model_dump(mode="json")
        canon = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:16]


if _plugins_setting is None:  # the config models are built: pydantic plugins as the user set them
    del os.environ[_PLUGINS_VAR]
else:
    os.environ[_PLUGINS_VAR] = _plugins_setting


def find_project_root(start: Path | None = None) -> Path | None:
    """Return the nearest ancestor of ``start`` holding ``config/config.toml`` and ``pyproject.toml``."""
    p = (start or Path.cwd()).resolve()
    for cand in (p, *p.parents):
        if (cand / "config" / "config.toml").is_file() and (cand / "pyproject.toml").is_file():
            return cand
    return None


#: Settings an environment override can never set: gate 1 of live trading and the live ramp.
_FILE_ONLY = frozenset({("live", "enabled"), ("live", "ramp")})


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _read_dotenv(path: Path) -> dict[str, str]:
    """Parse a minimal ``.env`` (KEY=VALUE lines, optional quotes, # comments)."""
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, val = line.removeprefix("export ").partition("=")
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
            val = val[1:-1]
        out[key.strip()] = val
    return out


def _format_validation(err: ValidationError, raw: dict[str, Any], source: str,
                       env_keys: dict[str, str] | None = None) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        value: Any = raw
        for p in e["loc"]:
            value = value.get(p, "<missing>") if isinstance(value, dict) else value
        if e["type"] == "unsafe_endpoint":
            var = (env_keys or {}).get(str((e.get("ctx") or {}).get("key", "")))
            lines.append(f"{e['msg']} (in {source}{f': {var}' if var else ''})")
        elif e["type"] == "extra_forbidden":
            lines.append(f"unknown key '{loc}' (value {value!r}) in {source}")
        else:
            lines.append(f"invalid value for '{loc}': {value!r} in {source}: {e['msg']}")
    return "; ".join(lines)


@functools.lru_cache(maxsize=16)
def _parse_toml(text: str) -> dict[str, Any]:
    """Return the parsed TOML ``text``, kept by its text: every load reads the file again (an edit is seen at
    once), but parsing (~1 ms, most of a load) is done once per distinct content. Callers get a copy
    (:func:`_toml_copy`): this one is shared."""
    return tomllib.loads(text)


def _toml_copy(value: Any) -> Any:
    """Return a copy of parsed TOML: new tables and arrays, the same (immutable) scalars."""
    if isinstance(value, dict):
        return {k: _toml_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_toml_copy(v) for v in value]
    return value


def load_config(path: str | os.PathLike[str] | None = None, *, env: dict[str, str] | None = None) -> Config:
    """Load, override from the environment and validate the configuration.

    Parameters
    ----------
    path
        Config file. When omitted: ``$PEAK_TRADE_CONFIG_PATH``, else the project's
        ``config/config.toml``, else built-in defaults.
    env
        Environment to read overrides and secrets from (default ``os.environ``).
    """
    env = dict(os.environ if env is None else env)
    root = find_project_root()
    if path is None and env.get(ENV_PATH_VAR):
        path = env[ENV_PATH_VAR]
    if path is None and root is not None:
        path = root / "config" / "config.toml"

    raw: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        p = Path(path).expanduser()
        source = str(p)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p} (expected a TOML file)")
        try:
            raw = _toml_copy(_parse_toml(p.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {p} is not valid TOML: {e}") from None
        for forbidden in ("secrets", "root", "source"):
            if forbidden in raw:
                raise ConfigError(
                    f"unknown key '{forbidden}' in {p}: secrets come only from the environment or .env"
                )
        resolved = p.resolve()
        root = root if root is not None and resolved.is_relative_to(root) else resolved.parent
        if resolved.parent.name == "config":
            root = resolved.parent.parent
    root = root or Path.cwd()

    env_keys: dict[str, str] = {}  # "section.key" -> the PEAKTRADE__ variable that set it (named in errors)
    for key, val in sorted(env.items()):
        if not key.startswith(ENV_PREFIX):
            continue
        parts = key[len(ENV_PREFIX):].lower().split("__")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"environment override {key} is invalid: expected PEAKTRADE__SECTION__KEY")
        section, name = parts
        if section not in Config.model_fields or section in ("secrets", "root", "source"):
            raise ConfigError(f"unknown key '{section}' in environment override {key}={val!r}")
        if (section, name) in _FILE_ONLY:
            raise ConfigError(f"environment override {key} is refused: [{section}] {name} is set in the config "
                              "file only (a variable left in a shell must not enable live trading or lift its ramp)")
        raw.setdefault(section, {})[name] = _parse_env_value(val)
        env_keys[f"{section}.{name}"] = key
        if not source.endswith(" + environment"):
            source = f"{source} + environment"

    dotenv = _read_dotenv(root / ".env")
    secrets = {field: env.get(var, dotenv.get(var)) for var, field in SECRET_VARS.items()}
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_validation(e, raw, source, env_keys)) from None
    return cfg.model_copy(
        update={"secrets": Secrets(**{k: v for k, v in secrets.items() if v}), "root": root, "source": source}
    )
