"""``peaktrade data ...`` end to end, in-process and through the installed console script."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from peaktrade.adapters.kraken import KRAKEN_CAPABILITIES
from peaktrade.data import BarStore

H = 3_600_000


def kraken_csv(path: Path, bars: pd.DataFrame) -> Path:
    rows = [
        f"{t.value // 10**9},{r.open!r},{r.high!r},{r.low!r},{r.close!r},{r.volume!r},{int(r.trades)}"
        for t, r in zip(bars.index, bars.itertuples())
    ]
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode(), mtime=0))
    return path


@pytest.fixture
def small_file(tmp_path, bars_of) -> Path:
    times = pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC").delete([10, 11, 30])
    return kraken_csv(tmp_path / "XBTUSD_60.csv.gz", bars_of(times, trades=True))


@pytest.mark.realdata
def test_import_when_real_file_imported_twice_then_second_adds_nothing_and_files_are_byte_identical(
    cfg, cli, shared_data, snapshot
):
    path = str(shared_data / "XBTUSD_60.csv.gz")
    first = cli("data", "import", path, "--symbol", "BTC/USD", "--timeframe", "1h")
    assert first.exit_code == 0, first.stderr
    assert "added: 70,253" in first.stdout and "3,254 holes" in first.stdout
    assert "2013-10-06 21:00 → 2023-01-07 09:00 UTC" in first.stdout
    before = snapshot(cfg.data_dir)
    second = cli("data", "import", path, "--symbol", "BTC/USD", "--timeframe", "1h")
    assert second.exit_code == 0, second.stderr
    assert "added: 0" in second.stdout and "unchanged: 70,253" in second.stdout
    assert "nothing changed" in second.stdout
    assert snapshot(cfg.data_dir) == before


def test_import_when_file_is_valid_then_reports_rows_and_gaps(cfg, cli, small_file):
    r = cli("data", "import", str(small_file), "-s", "BTC/USD", "-t", "1h")
    assert r.exit_code == 0, r.stderr
    assert "bars read: 45   added: 45   updated: 0   unchanged: 0" in r.stdout
    assert "gaps: 2 holes, 3 missing bars, longest 2 bars (2024-01-01 10:00 → 2024-01-01 11:00 UTC)" in r.stdout
    assert "gap policy: keep" in r.stdout
    assert BarStore(cfg.data_dir).manifest("kraken", "BTC/USD", "1h").rows == 45


def test_import_when_fill_policy_configured_then_cli_stores_filled_bars(make_cfg, cli, small_file):
    cfg = make_cfg(data={"gaps": "fill"})
    r = cli("data", "import", str(small_file), "-s", "BTC/USD", "-t", "1h")
    assert r.exit_code == 0 and "gap policy: fill" in r.stdout and "no gaps" in r.stdout
    assert BarStore(cfg.data_dir).manifest("kraken", "BTC/USD", "1h").rows == 48


def test_import_when_file_is_bad_then_one_error_line_with_line_number_and_exit_2(cfg, cli, tmp_path, small_file,
                                                                                snapshot):
    cli("data", "import", str(small_file), "-s", "BTC/USD", "-t", "1h")
    before = snapshot(cfg.data_dir)
    lines = gzip.decompress(small_file.read_bytes()).splitlines()
    lines[6] = lines[6].replace(b",", b",x", 1)
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    r = cli("data", "import", str(bad), "-s", "BTC/USD", "-t", "1h")
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")
    assert "line 7: field 2 (open) is not a number" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert snapshot(cfg.data_dir) == before


def test_import_when_required_option_missing_then_usage_error_exit_2(cfg, cli, small_file):
    r = cli("data", "import", str(small_file), "--timeframe", "1h")
    assert r.exit_code == 2 and "--symbol" in r.stderr and "Traceback" not in r.stderr


def test_list_when_empty_then_says_how_to_import(cfg, cli):
    r = cli("data", "list")
    assert r.exit_code == 0 and "No data sets" in r.stdout and "peaktrade data import" in r.stdout


def test_list_when_data_sets_stored_then_prints_a_row_each(cfg, cli, small_file, hourly_bars):
    cli("data", "import", str(small_file), "-s", "BTC/USD", "-t", "1h")
    BarStore(cfg.data_dir).write("synthetic", "ETH/USD", "1h", hourly_bars("2024-01-01", 5), source="g", synthetic=True)
    r = cli("data", "list")
    assert r.exit_code == 0
    btc = next(line for line in r.stdout.splitlines() if "BTC/USD" in line)
    assert btc.split()[:5] == ["kraken", "BTC/USD", "1h", "45", "2024-01-01"]
    eth = next(line for line in r.stdout.splitlines() if "ETH/USD" in line)
    assert eth.split()[0] == "synthetic" and "yes" in eth


def test_show_when_stored_then_prints_rows_range_gaps_and_fingerprint(cfg, cli, small_file):
    cli("data", "import", str(small_file), "-s", "BTC/USD", "-t", "1h")
    m = BarStore(cfg.data_dir).manifest("kraken", "BTC/USD", "1h")
    r = cli("data", "show", "BTC/USD", "1h", "--json")
    assert r.exit_code == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["rows"] == 45 and shown["n_gaps"] == 2 and shown["fingerprint"] == m.fingerprint
    assert shown["first"] == "2024-01-01T00:00:00Z" and shown["sources"] == ["kraken-ohlcvt:XBTUSD_60.csv.gz"]
    table = cli("data", "show", "BTC/USD", "1h")
    assert "45" in table.stdout and "n_gaps" in table.stdout and m.fingerprint[:20] in table.stdout


def test_show_when_coarser_timeframe_then_resamples_on_the_fly(cfg, cli, small_file):
    cli("data", "import", str(small_file), "-s", "BTC/USD", "-t", "1h")
    r = cli("data", "show", "BTC/USD", "4h", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["rows"] == 12


def test_show_when_not_stored_then_one_line_error_listing_stored(cfg, cli, small_file):
    cli("data", "import", str(small_file), "-s", "BTC/USD", "-t", "1h")
    r = cli("data", "show", "ETH/USD", "1h")
    assert r.exit_code == 2 and "stored: kraken BTC/USD 1h" in r.stderr and r.stderr.count("\n") == 1


def test_audit_when_gaps_then_prints_summary_and_hole_table(cfg, cli, small_file):
    cli("data", "import", str(small_file), "-s", "BTC/USD", "-t", "1h")
    r = cli("data", "audit", "BTC/USD", "1h", "--order", "time")
    assert r.exit_code == 0
    assert "kraken BTC/USD 1h: 45 bars, 2 holes, 3 missing bars" in r.stdout
    assert "2 of 2 holes" in r.stdout
    rows = [line.split() for line in r.stdout.splitlines() if line.strip().startswith("│ 2024")]
    assert [row[-2] for row in rows] == ["2", "1"]
    assert cli("data", "audit", "BTC/USD", "1h", "--order", "size").exit_code == 2


class FakeKraken:
    """A key-less ExchangeClient with Kraken's capabilities (720 candles, only the latest served)."""

    capabilities = KRAKEN_CAPABILITIES

    def __init__(self) -> None:
        self.now = 480_000 * H + 60_000
        self.limits: list[int | None] = []

    def milliseconds(self) -> int:
        return self.now

    def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
        current = self.now // H * H
        first = max(current - 719 * H, since or 0)
        self.limits.append(limit)
        return [[t, 10.0, 11.0, 9.0, 10.5, 2.0] for t in range(first, current + H, H)][:limit]


def test_download_when_since_is_beyond_kraken_history_then_warns_and_stores_what_is_available(cfg, cli, monkeypatch):
    fake = FakeKraken()
    monkeypatch.setattr("peaktrade.adapters.kraken.public_client", lambda exchange_id="kraken", **kw: fake)
    r = cli("data", "download", "--exchange", "kraken", "--symbol", "BTC/USD", "--timeframe", "1h",
            "--since", "2024-01-01", "--no-progress")
    assert r.exit_code == 0, r.stderr
    assert fake.limits[0] == 720  # no --limit: the venue's capability
    assert "warning:" in r.stderr and "720" in r.stderr and "peaktrade data import" in r.stderr
    assert "719 bars added" in r.stdout
    assert BarStore(cfg.data_dir).manifest("kraken", "BTC/USD", "1h").rows == 719


def test_download_when_exchange_unknown_then_one_line_error(cfg, cli):
    r = cli("data", "download", "--exchange", "nosuchexchange", "--symbol", "BTC/USD", "--no-progress")
    assert r.exit_code == 2 and "exchange='nosuchexchange' is invalid" in r.stderr


def _console_script() -> Path:
    script = Path(sys.executable).with_name("peaktrade")
    if not script.exists():
        pytest.skip(f"the peaktrade console script is not installed next to {sys.executable}")
    return script


def test_console_script_when_user_error_then_exits_nonzero_with_one_line_and_no_traceback(cfg, tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_text("1700000000,1,2,0.5,1.5,3,4\n1700003600,1,2,0.5,oops,3,4\n")
    env = {**os.environ, "PEAK_TRADE_CONFIG_PATH": os.environ["PEAK_TRADE_CONFIG_PATH"]}
    out = subprocess.run([str(_console_script()), "data", "import", str(bad), "--symbol", "BTC/USD", "--timeframe",
                          "1h"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0, out.stderr
    assert out.stderr.startswith("error: ") and "line 2: field 5 (close) is not a number" in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_console_script_when_usage_error_then_exit_2_without_traceback(cfg):
    out = subprocess.run([str(_console_script()), "data", "show"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Missing argument" in out.stderr and "Traceback" not in out.stderr
