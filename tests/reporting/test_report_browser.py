"""A generated report in a real headless browser (Debian chromium): it loads offline without
JavaScript errors, every chart renders, and the screenshot is not blank."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from peaktrade.reporting import build_report

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed (CI: apt-get install -y chromium chromium-driver)",
)

#: Prepended to the page under test only: turns console.error and uncaught errors into console
#: lines chromium's log marks, since its log shows every console level as INFO.
_ERROR_HOOK = """<script>(function () {
  var err = console.error.bind(console);
  console.error = function () { err("PEAKTEST-CONSOLE-ERROR " + Array.prototype.join.call(arguments, " ")); };
  window.addEventListener("error", function (e) { err("PEAKTEST-CONSOLE-ERROR " + e.message); });
})();</script>"""


def png_rows(path: Path) -> tuple[int, int, int]:
    """Return (width, height, distinct filtered scanlines) of a PNG, with the stdlib only.

    A blank (single-colour) screenshot has every scanline identical after PNG filtering; a page
    with text and charts has hundreds of distinct ones.
    """
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, bpp = 8, [], 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
            bpp = channels * depth // 8
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    stride = 1 + width * bpp
    assert len(raw) == stride * height, "unexpected PNG layout"
    rows = {raw[i * stride:(i + 1) * stride] for i in range(height)}
    return width, height, len(rows)


def open_in_chromium(html: str, tmp_path: Path) -> tuple[str, list[str], Path]:
    """Load ``html`` (with the error hook) in headless chromium; return (DOM, console errors, screenshot)."""
    page = tmp_path / "page.html"
    page.write_text(html.replace("<head>", "<head>" + _ERROR_HOOK, 1), encoding="utf-8")
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no host resolves
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", f"--screenshot={shot}", "--window-size=1200,2000", "--dump-dom",
         page.as_uri()],
        capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    errors = [ln for ln in console if "PEAKTEST-CONSOLE-ERROR" in ln or "Uncaught" in ln
              or "Failed to load resource" in ln]
    return proc.stdout, errors, shot


def test_report_when_opened_in_headless_chromium_then_charts_render_without_js_errors(
        tmp_path, rresult, rsweep, rwalk, rmonte):
    report = build_report(title="browser check", path=tmp_path / "report.html", result=rresult, sweep=rsweep,
                          walk_forward=rwalk, monte_carlo=rmonte, notes="rendered by chromium",
                          provenance={"git SHA": "abc"})
    html = report.read_text(encoding="utf-8")
    n_figures = len(re.findall(r'class="plotly-graph-div"', html))
    assert n_figures == 6  # equity, candles, monthly returns, sweep, walk-forward, Monte Carlo

    dom, errors, shot = open_in_chromium(html, tmp_path)

    assert not errors, "\n".join(errors)
    rendered = re.findall(r'<div id="(fig-[^"]+)" class="plotly-graph-div js-plotly-plot"', dom)
    assert len(rendered) == n_figures, f"plotly rendered {len(rendered)} of {n_figures} figures"
    assert dom.count('class="main-svg"') >= 2 * n_figures  # each plot draws its svg layers
    assert '<section id="section-monte-carlo">' in dom
    width, height, distinct = png_rows(shot)
    assert (width, height) == (1200, 2000)
    assert distinct > 300, f"screenshot looks blank: {distinct} distinct rows"


def test_browser_check_when_page_throws_and_is_blank_then_both_are_detected(tmp_path):
    html = ("<!DOCTYPE html><html><head></head><body><script>console.error('bad'); notDefined();</script>"
            "</body></html>")
    _, errors, shot = open_in_chromium(html, tmp_path)
    assert any("bad" in e for e in errors) and any("notDefined" in e for e in errors)
    assert png_rows(shot)[2] <= 3
