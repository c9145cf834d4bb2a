"""Read the shell commands of README.md and docs/*.md, with the ``<!-- doc-test ... -->`` markers that say
how tests/docs/test_doc_commands.py runs them (the convention is documented in docs/README.md).

A marker is an HTML comment (invisible on GitHub) right before a fenced block, one directive per line::

    <!-- doc-test
    background: peaktrade mlflow ui
    background: peaktrade shadow run | ready: bar \\d+
    before: peaktrade sim-exchange serve
    setup: peaktrade data import ...
    no-run: peaktrade data download --exchange kraken | needs the network
    covered: make demo | tests/cli/test_demo_reports.py
    exit: peaktrade live gates | 1
    files: ../shared/data/kraken/XBTUSD_60.csv.gz, berlin.csv
    fresh
    -->

and, before a non-bash block, ``<!-- doc-test: file: PATH -->`` (or ``file: PATH append``) writes that
block's text into the project before the doc's first command runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[ \t]*$")
MARKER = re.compile(r"<!--\s*doc-test(?P<body>.*?)-->", re.S)
#: Directive names a marker may use; anything else is an error naming the doc and line.
KINDS = ("background", "before", "setup", "no-run", "covered", "exit", "files", "file", "fresh")
#: Run ids commands print: MLflow's 32 hex digits, or a session's ``YYYYmmdd-HHMMSS-<env>-<strategy>-<6 hex>``.
RUN_ID_RE = r"[0-9a-f]{32}|[0-9]{8}-[0-9]{6}-[a-z]+-[A-Za-z0-9_-]+-[0-9a-f]{6}"


class DocMarkerError(ValueError):
    """A ``doc-test`` marker that cannot be read (the message names the doc and the line)."""


@dataclass(frozen=True)
class Command:
    """One shell command of a doc: its text (continuation lines joined) and where it starts."""

    doc: str
    line: int
    text: str

    def where(self) -> str:
        return f"{self.doc}:{self.line}: {self.text}"


@dataclass
class Block:
    """One fenced block with its marker's directives."""

    doc: str
    line: int  # the line of the opening fence
    lang: str
    text: str
    directives: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, argument, option)

    def commands(self) -> list[Command]:
        """The block's commands: comment-only and blank lines dropped, ``\\``-continued lines joined."""
        out: list[Command] = []
        pending, start = "", 0
        for i, raw in enumerate(self.text.splitlines(), start=self.line + 1):
            if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
                continue
            if not pending:
                start = i
            if raw.rstrip().endswith("\\"):
                pending += raw.rstrip()[:-1].rstrip() + " "
                continue
            out.append(Command(self.doc, start, pending + raw.strip()))
            pending = ""
        return out

    def matching(self, kind: str, cmd: Command) -> tuple[str, str] | None:
        """The (argument, option) of this block's ``kind`` directive whose prefix starts ``cmd``."""
        bare = cmd.text.split(" #")[0].strip()  # the command without its comment
        for k, arg, opt in self.directives:
            if k == kind and (bare == arg[:-1].strip() if arg.endswith("$") else cmd.text.startswith(arg)):
                return arg, opt
        return None

    def get(self, kind: str) -> list[tuple[str, str]]:
        return [(arg, opt) for k, arg, opt in self.directives if k == kind]


def _directives(body: str, doc: str, line: int) -> list[tuple[str, str, str]]:
    out = []
    for raw in body.strip().removeprefix(":").splitlines():
        text = raw.strip()
        if not text:
            continue
        kind, sep, rest = text.partition(":")
        if not sep or " " in kind.strip():  # a directive without an argument ("fresh")
            kind, rest = text, ""
        kind = kind.strip()
        if kind not in KINDS:
            raise DocMarkerError(f"{doc}:{line}: unknown doc-test directive {kind!r} (expected one of {', '.join(KINDS)})")
        arg, _, opt = rest.partition(" | ")
        opt = opt.strip()
        if kind in ("background", "before"):
            opt = opt.removeprefix("ready:").strip()
        if kind == "exit" and not opt.isdigit():
            raise DocMarkerError(f"{doc}:{line}: 'exit: {arg.strip()}' needs ' | <exit status>'")
        if kind in ("no-run", "covered") and not opt:
            raise DocMarkerError(f"{doc}:{line}: '{kind}: {arg.strip()}' needs ' | <reason or test file>'")
        out.append((kind, arg.strip(), opt))
    return out


def read_blocks(path: Path, root: Path) -> list[Block]:
    """Return every fenced block of ``path`` (shown relative to ``root``) with its marker's directives."""
    doc = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        base = max(0, i - 12)
        before = "\n".join(lines[base:i])  # the marker sits right above the fence
        directives: list[tuple[str, str, str]] = []
        marker = list(MARKER.finditer(before))
        if marker and not before[marker[-1].end():].strip():
            mline = base + before[:marker[-1].start()].count("\n") + 1
            directives = _directives(marker[-1]["body"], doc, mline)
        blocks.append(Block(doc, i + 1, m["lang"], "\n".join(lines[i + 1:j]), directives))
        i = j + 1
    return blocks


def looks_like_shell(block: Block) -> list[Command]:
    """Commands of a block not labelled ``bash`` that look runnable (``peaktrade ...``, ``make ...``)."""
    if block.lang not in ("", "sh", "shell", "console"):
        return []
    return [c for c in block.commands() if re.match(r"(\$ )?(peaktrade|make|\.venv/bin/peaktrade)\b", c.text)]
