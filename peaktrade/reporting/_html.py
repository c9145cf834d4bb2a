"""HTML building blocks of the reports: escaping, value formatting, tables, the page shell.

Every piece of text that reaches the page goes through :func:`esc`; figures are embedded with
plotly's own JSON (which escapes ``</script>``), and plotly.js itself is inlined once per page (tracked
copies refer to one shared bundle instead, see :func:`share_plotlyjs`).
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

_CSS = """
:root { --fg:#1d2330; --muted:#5b6472; --line:#d9dee7; --bg:#ffffff; --head:#f3f5f9; --pos:#1a7f37; --neg:#b42318; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; padding: 24px 32px 64px; max-width: 1280px; font-size: 14px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 12px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 8px; color: var(--muted); }
.meta { color: var(--muted); margin: 0 0 16px; }
nav.toc a { margin-right: 14px; color: #2557a7; text-decoration: none; }
table { border-collapse: collapse; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: var(--head); font-weight: 600; }
td.k, th.k { text-align: left; }
tr.gap td { text-align: center; color: var(--muted); font-style: italic; }
.grid { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.scroll { overflow-x: auto; max-width: 100%; }
.figure { width: 100%; margin: 8px 0 16px; }
.notes p { margin: 6px 0; line-height: 1.45; }
.note { color: var(--muted); font-size: 12px; }
footer { margin-top: 48px; color: var(--muted); font-size: 12px; }
"""


def esc(value: Any) -> str:
    """Return ``value`` as text safe inside HTML element content and attribute values."""
    return html.escape(str(value), quote=True)


def fmt_value(value: Any) -> str:
    """Format one table cell: numbers with sensible precision, times in ISO form, text as is.

    The result is *not* escaped; :func:`cell` escapes it.
    """
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        a = abs(v)
        if a >= 1000:
            return f"{v:,.2f}"
        if a >= 1e-4:
            return f"{v:.4f}".rstrip("0").rstrip(".") if a < 1 else f"{v:,.4f}"
        return f"{v:.3e}"
    if isinstance(value, pd.Timestamp):
        if value is pd.NaT:
            return ""
        return value.isoformat(sep=" ").replace("+00:00", "Z") if value.tzinfo else value.isoformat(sep=" ")
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return str(value)
    return str(value)


def cell(value: Any, *, tag: str = "td", key: bool = False) -> str:
    """Return one escaped table cell."""
    cls = ' class="k"' if key or isinstance(value, str) else ""
    return f"<{tag}{cls}>{esc(fmt_value(value))}</{tag}>"


def kv_table(items: Mapping[str, Any] | pd.Series, *, title: str | None = None, css_id: str | None = None) -> str:
    """Return a two-column (name, value) table."""
    pairs = items.items()
    rows = "".join(f"<tr>{cell(str(k), tag='th', key=True)}{cell(v)}</tr>" for k, v in pairs)
    cap = f"<h3>{esc(title)}</h3>" if title else ""
    ident = f' id="{esc(css_id)}"' if css_id else ""
    return f"<div>{cap}<table{ident}>{rows}</table></div>"


def frame_table(df: pd.DataFrame, *, index: bool = True, max_rows: int | None = None, head: int = 20,
                tail: int = 20, css_id: str | None = None) -> str:
    """Return a DataFrame as an escaped HTML table, first and last rows only when it is long.

    Parameters
    ----------
    df
        The frame to render.
    index
        Render the index as the first column.
    max_rows
        When the frame has more rows, show the first ``head`` and last ``tail`` rows with a gap row.
    """
    cols = [str(c) for c in df.columns]
    header = ([cell(str(df.index.name or ""), tag="th", key=True)] if index else [])
    header += [cell(c, tag="th") for c in cols]
    ncols = len(header)

    def row_html(idx: Any, values: Iterable[Any]) -> str:
        parts = [cell(idx, key=True)] if index else []
        parts += [cell(v) for v in values]
        return "<tr>" + "".join(parts) + "</tr>"

    n = len(df)
    body: list[str] = []
    if max_rows is not None and n > max_rows:
        for i in range(head):
            body.append(row_html(df.index[i], df.iloc[i].tolist()))
        body.append(f'<tr class="gap"><td colspan="{ncols}">… {n - head - tail:,} more rows …</td></tr>')
        for i in range(n - tail, n):
            body.append(row_html(df.index[i], df.iloc[i].tolist()))
    else:
        for i in range(n):
            body.append(row_html(df.index[i], df.iloc[i].tolist()))
    ident = f' id="{esc(css_id)}"' if css_id else ""
    return (f'<div class="scroll"><table{ident}><thead><tr>{"".join(header)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def notes_html(notes: str | Iterable[str]) -> str:
    """Return notes as escaped paragraphs (blank lines separate paragraphs in a string)."""
    if isinstance(notes, str):
        paras = [p.strip() for p in notes.replace("\r\n", "\n").split("\n\n")]
    else:
        paras = [str(p).strip() for p in notes]
    return "".join(f"<p>{esc(p).replace(chr(10), '<br>')}</p>" for p in paras if p)


def page(*, title: str, subtitle: str, sections: list[tuple[str, str, str]], plotlyjs: str | None,
         footer: str) -> str:
    """Return the whole HTML document.

    Parameters
    ----------
    sections
        ``(id, heading, body_html)`` triples in page order; bodies are already escaped HTML.
    plotlyjs
        The plotly.js bundle to inline once in the head, or None when the page has no figures.
    """
    toc = " ".join(f'<a href="#{esc(sid)}">{esc(head)}</a>' for sid, head, _ in sections)
    body = "".join(f'<section id="{esc(sid)}"><h2>{esc(head)}</h2>{html_}</section>'
                   for sid, head, html_ in sections)
    script = f'<script type="text/javascript">{plotlyjs}</script>' if plotlyjs else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style>{script}</head>"
        f'<body><header><h1>{esc(title)}</h1><p class="meta">{esc(subtitle)}</p>'
        f'<nav class="toc">{toc}</nav></header>{body}<footer>{esc(footer)}</footer></body></html>\n'
    )


# -- one shared plotly.js instead of ~4.8 MB inlined in every report ---------------------------------
#
# A tracked report would otherwise carry the whole plotly.js bundle (4.8 MB; 385 MB after ~90 runs).
# Tracking keeps one copy per MLflow experiment, next to its run folders, and the uploaded HTML refers
# to it by a relative path: the report still opens offline from the artifact store on disk, and
# ``peaktrade report RUN_ID`` writes a self-contained copy (the bundle inlined again) to share it.

_SHARED_ATTR = 'data-peaktrade-plotlyjs="shared"'
_SHARED_TAG = re.compile(r'<script src="([^"]*)" ' + re.escape(_SHARED_ATTR) + r"></script>(<script>.*?</script>)?",
                         re.DOTALL)


@functools.cache
def plotlyjs_bundle() -> str:
    """Return the plotly.js bundle that plotly (Python) ships and inlines (read once per process)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def plotlyjs_name() -> str:
    """Return the file name of the shared bundle, versioned so that a copy never serves the wrong figures."""
    m = re.search(r"plotly\.js v([0-9][0-9A-Za-z.\-+]*)", plotlyjs_bundle()[:300])
    if m:
        return f"plotly-{m.group(1)}.min.js"
    import hashlib

    return f"plotly-{hashlib.sha256(plotlyjs_bundle().encode()).hexdigest()[:12]}.min.js"


def write_plotlyjs(directory: Path) -> Path:
    """Write the shared bundle into ``directory`` once (atomically); return its path."""
    from peaktrade._files import atomic_write_text

    path = Path(directory) / plotlyjs_name()
    if not (path.is_file() and path.stat().st_size == len(plotlyjs_bundle().encode("utf-8"))):
        atomic_write_text(path, plotlyjs_bundle())
    return path


def shared_plotlyjs_tag(src: str) -> str:
    """Return the tag that loads the shared bundle from ``src``, and says so in the page when it cannot
    (e.g. the MLflow UI's preview, which shows the page from a blob without its neighbours)."""
    name = plotlyjs_name()
    note = ("Figures need " + name + ", kept once beside the runs of this MLflow experiment: open this file "
            "from the artifact store on disk, or run `peaktrade report RUN_ID` for a self-contained copy.")
    fallback = ("<script>document.addEventListener('DOMContentLoaded',function(){if(!window.Plotly){"
                "var p=document.createElement('p');p.className='plotlyjs-missing';"
                "p.style.cssText='background:#fff4e5;border:1px solid #f0b429;padding:6px 10px;font:13px sans-serif';"
                f"p.textContent={json.dumps(note)};document.body.insertBefore(p,document.body.firstChild);}}}});"
                "</script>")
    return f'<script src="{esc(src)}" {_SHARED_ATTR}></script>{fallback}'


def share_plotlyjs(doc: str, src: str) -> str | None:
    """Return ``doc`` with its inlined plotly.js replaced by a reference to ``src`` (None when the page
    does not inline the bundle). Works for peaktrade reports and plotly's own ``write_html`` pages."""
    bundle = plotlyjs_bundle()
    i = doc.find(bundle)
    if i < 0:
        return None
    opening = re.search(r"<script[^>]*>\s*\Z", doc[max(0, i - 200):i])
    closing = re.match(r"\s*</script>", doc[i + len(bundle):i + len(bundle) + 50])
    if opening is None or closing is None:
        return None
    start = i - len(opening.group(0))
    end = i + len(bundle) + closing.end()
    return doc[:start] + shared_plotlyjs_tag(src) + doc[end:]


def inline_plotlyjs(doc: str) -> str:
    """Return ``doc`` with a shared plotly.js reference replaced by the bundle itself (self-contained)."""
    bundle = plotlyjs_bundle()
    return _SHARED_TAG.sub(lambda _m: f'<script type="text/javascript">{bundle}</script>', doc, count=1)
