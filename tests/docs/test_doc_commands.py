"""Every shell command in README.md and docs/*.md runs, so the docs cannot drift from the code.

Each doc (found by glob: a doc added later is covered without naming it here) runs its ```bash blocks top
to bottom in ONE bash session, as a reader would type them, in a fresh copy of the project (the files a
clone holds; the package itself is imported from this checkout, so numba's cache stays warm), offline:
a fresh config/config.toml, its own HOME, state dir and ports, the embedded synthetic data set, small
synthetic stand-ins for the example files a doc imports, and the local simulator. A command passes when
it exits 0 (or the status its marker documents) without a traceback (and, with ``--json``, prints valid JSON). ``RUN_ID`` in a command is
the last run id an earlier command of the doc printed. ``<!-- doc-test ... -->`` markers (docs/README.md,
tests/docs/doc_blocks.py) say which commands do not end by themselves (started, checked to become ready,
then stopped with Ctrl-C, which must end them cleanly), which need a predecessor running, and which cannot
run offline (then their sub-command and every option are checked against the CLI, or ``make -n``).
A failure names the doc, the line and the command, with the end of its output.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from doc_blocks import RUN_ID_RE, Block, Command, DocMarkerError, looks_like_shell, read_blocks
from helpers import REPO_ROOT, random_bars

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
#: Seconds a background command may take to become ready, and to end after Ctrl-C.
READY_SECONDS, STOP_SECONDS = 180, 90  # generous: a loaded machine is slow, a pass is not


# -- example input files the docs import (a ``files:`` directive names them) --------------------------------
def _kraken_csv_gz(path: Path) -> None:  # Kraken's OHLCVT export: time,open,high,low,close,volume,trades
    b = random_bars(19500, start="2021-12-01", seed=3, vol=0.004, trades=True)  # to Feb 2024
    rows = [f"{int(t.timestamp())},{r.open:.2f},{r.high:.2f},{r.low:.2f},{r.close:.2f},{r.volume:.4f},{int(r.trades)}"
            for t, r in zip(b.index, b.itertuples(), strict=True)]
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))


def _myex_csv(path: Path) -> None:
    b = random_bars(600, start="2024-01-01", seed=4)
    out = b.rename(columns={"open": "Px Open", "high": "Px Hi", "low": "Px Lo", "close": "Px Last", "volume": "Qty"})
    out.index = out.index.strftime("%Y-%m-%d %H:%M:%S").rename("Timestamp")
    out.to_csv(path)


def _berlin_csv(path: Path) -> None:  # local Berlin time, January (no DST change), no volume
    b = random_bars(400, start="2024-01-01", seed=5).drop(columns="volume")
    b.index = b.index.tz_convert("Europe/Berlin").strftime("%d.%m.%Y %H:%M").rename("Datum")
    b.rename(columns={"open": "Eroeffnung", "high": "Hoch", "low": "Tief", "close": "Schluss"}).to_csv(path)


def _binance_zip(path: Path) -> None:  # headerless klines: open time (ms), o, h, l, c, v, close time, ..., trades
    b = random_bars(300, start="2024-01-01", seed=6, trades=True)
    ms = b.index.asi8 // 1_000_000
    rows = [f"{t},{r.open},{r.high},{r.low},{r.close},{r.volume},{t + 3599999},0,{int(r.trades)},0,0,0"
            for t, r in zip(ms, b.itertuples(), strict=True)]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(path.with_suffix(".csv").name, "\n".join(rows) + "\n")


def _bars_parquet(path: Path) -> None:
    random_bars(300, start="2024-01-01", seed=8).to_parquet(path)


def _saved_result(path: Path) -> None:  # a result directory written by peaktrade.reporting.save_result
    from peaktrade.backtest import run
    from peaktrade.reporting import save_result

    save_result(run("ma_crossover", random_bars(500, seed=9), fast=5, slow=20), path)


#: Files by name (the last part of the path a doc uses); a doc importing a new example file adds one here.
FILES: dict[str, Callable[[Path], None]] = {
    "XBTUSD_60.csv.gz": _kraken_csv_gz, "myex-btcusdt-1h.csv": _myex_csv, "berlin.csv": _berlin_csv,
    "BTCUSDT-1h-2024-01.zip": _binance_zip, "bars.parquet": _bars_parquet, "saved-result": _saved_result,
}


# -- the project a doc runs in -------------------------------------------------------------------------------
def _project_files() -> list[str]:
    """What a clone holds (tracked and new, not ignored), without the package and the tests."""
    r = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                       capture_output=True, check=True)
    return [f for f in r.stdout.decode().split("\0") if f and not f.startswith(("peaktrade/", "tests/"))]


def fresh_project(dest: Path) -> Path:
    """Copy the project's files to ``dest``; its ``.venv`` is this interpreter's (never reinstalled by make)."""
    for f in _project_files():
        src = REPO_ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    venv, real = dest / ".venv", Path(sys.prefix)
    venv.mkdir()
    for entry in real.iterdir():
        if entry.name != ".peaktrade-installed":
            (venv / entry.name).symlink_to(entry)
    (venv / ".peaktrade-installed").touch()  # installed: `make` targets do not reinstall into this venv
    os.utime(dest / "pyproject.toml", (946684800, 946684800))  # older than the stamp
    return dest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def doc_env(tmp: Path) -> dict[str, str]:
    """The environment of a doc's session: no peaktrade overrides or secrets of the caller, its own HOME."""
    from peaktrade.config import ENV_PATH_VAR, SECRET_VARS

    env = {k: v for k, v in os.environ.items()
           if not (k.startswith(("PEAKTRADE__", "MLFLOW_")) or k in SECRET_VARS or k == ENV_PATH_VAR)}
    (tmp / "home").mkdir(exist_ok=True)
    env.update(HOME=str(tmp / "home"), PYTHONPATH=str(REPO_ROOT), PORT=str(_free_port()),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
               PEAKTRADE_STATE_DIR=str(tmp / "state"), JUPYTER_TOKEN="doc-test", PYTHONUNBUFFERED="1",
               NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", ""))
    return {k: v for k, v in env.items() if v}


# -- checks of commands that are not run -----------------------------------------------------------------------
def check_not_run(cmd: Command, project: Path, env: dict[str, str]) -> str | None:
    """Check a command that is not executed: its sub-command and each option exist. Return a problem or None."""
    words = shlex.split(cmd.text, comments=True)
    if words[0] == "make":
        r = subprocess.run(["make", "-n", *words[1:]], cwd=project, env=env, capture_output=True, text=True)
        return None if r.returncode == 0 else f"`make -n` fails: {r.stderr.strip()[-300:]}"
    if words[0] != "peaktrade":
        return f"only peaktrade and make commands can be checked without running them, not {words[0]!r}"
    from typer.main import get_command

    from peaktrade.cli.main import app

    node = get_command(app)  # typer's own click: a group is duck-typed by its ``commands``
    path = ["peaktrade"]
    rest = words[1:]
    while hasattr(node, "commands") and rest:
        if rest[0].startswith("-"):  # global options before the sub-command (--config X)
            rest = rest[2:] if "=" not in rest[0] else rest[1:]
            continue
        sub = node.commands.get(rest[0])
        if sub is None:
            return f"{' '.join(path)} has no sub-command {rest[0]!r}"
        node, path, rest = sub, [*path, rest[0]], rest[1:]
    known = {o for p in node.params for o in (*p.opts, *p.secondary_opts)}
    bad = [w.split("=")[0] for w in rest if re.match(r"--?[A-Za-z]", w) and w.split("=")[0] not in known]
    return f"{' '.join(path)} has no option(s) {', '.join(bad)}" if bad else None


# -- the session script ---------------------------------------------------------------------------------------
PRELUDE = r"""
D="$1"; DOC_RUN_ID=""
_grab() { local x; x=$(cat "$D/$1.out" "$D/$1.err" 2>/dev/null | grep -oE '\b(RUN_ID_RE)\b' | tail -n 1); [ -n "$x" ] && DOC_RUN_ID=$x; return 0; }
_ready() {  # ID REGEX: wait until the output matches REGEX (default: an http URL whose port answers)
  local id=$1 re=$2 pid port n
  pid=$(cat "$D/$id.pid")
  for n in $(seq 1 $((READY * 10))); do
    if ! kill -0 "$pid" 2>/dev/null; then echo "$id notready ended before it was ready" >>"$D/status"; return 1; fi
    if [ -n "$re" ]; then
      grep -qE "$re" "$D/$id.out" "$D/$id.err" 2>/dev/null && return 0
    else
      port=$(cat "$D/$id.out" "$D/$id.err" | grep -oE 'https?://(127\.0\.0\.1|localhost):[0-9]+' | head -n 1 | grep -oE '[0-9]+$')
      if [ -n "$port" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    fi
    sleep 0.1
  done
  echo "$id notready not ready after READY s" >>"$D/status"; return 1
}
_stop() {  # ID: Ctrl-C (SIGINT to its process group), then wait for it to end
  local id=$1 pid n rc
  pid=$(cat "$D/$id.pid")
  kill -INT -- "-$pid" 2>/dev/null
  for n in $(seq 1 $((STOP * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null; echo "$id nostop did not end within STOP s of Ctrl-C" >>"$D/status"
  fi
  wait "$pid"; rc=$?
  echo "$id $rc" >>"$D/status"
}
""".replace("RUN_ID_RE", RUN_ID_RE).replace("READY", str(READY_SECONDS)).replace("STOP", str(STOP_SECONDS))


def _shell(cmd: str) -> str:
    """The command as the session runs it: ``RUN_ID`` is the last run id printed before."""
    return re.sub(r"\bRUN_ID\b", '"${DOC_RUN_ID:?no earlier command of this doc printed a run id}"', cmd)


class Session:
    """The script of one doc and what each of its command ids stands for."""

    def __init__(self, tmp: Path, env: dict[str, str], blocks: list[Block]):
        self.tmp, self.env, self.lines, self.commands = tmp, env, [PRELUDE], {}
        self.not_run: list[tuple[Command, str]] = []
        # `file:` blocks (a spec, a config section) are in every project of the doc before its first command
        self.files = [(arg, b.text) for b in blocks for arg, _ in b.get("file")]
        self.new_project(0)

    def new_project(self, n: int) -> None:
        self.project = fresh_project(self.tmp / f"project-{n}")
        for arg, text in self.files:
            path, _, mode = arg.partition(" ")
            target = self.project / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("a" if mode.strip() == "append" else "w", encoding="utf-8") as fh:
                fh.write(("\n" if mode.strip() == "append" else "") + text + "\n")
        self.lines.append(f"cd {shlex.quote(str(self.project))}")

    def _id(self, cmd: Command, how: str) -> str:
        i = str(len(self.commands))
        self.commands[i] = (cmd, how)
        return i

    def run(self, cmd: Command, how: str = "run") -> None:
        i = self._id(cmd, how)
        self.lines.append(f'{{ {_shell(cmd.text)}\n}} >"$D/{i}.out" 2>"$D/{i}.err" </dev/null; echo "{i} $?" >>"$D/status"; _grab {i}')

    def start(self, cmd: Command, ready: str) -> str:
        i = self._id(cmd, "background")
        # job control on for the start only: the command gets its own process group, as in a terminal, so
        # Ctrl-C (SIGINT to the group) reaches it and its children; foreground commands stay in the session's
        self.lines.append(f'set -m\n{{ {_shell(cmd.text)}\n}} >"$D/{i}.out" 2>"$D/{i}.err" </dev/null &\n'
                          f'echo $! >"$D/{i}.pid"\nset +m\n'
                          f"_ready {i} {shlex.quote(ready)}")
        return i

    def stop(self, i: str) -> None:
        self.lines.append(f"_stop {i}")

    def add_block(self, block: Block, n: int) -> None:
        if block.get("fresh"):
            self.new_project(n)
        for arg, _ in block.get("files"):
            for name in filter(None, (x.strip() for x in arg.split(","))):
                make = FILES.get(Path(name).name)
                assert make, f"{block.doc}:{block.line}: no factory for example file {name!r} (add one to FILES)"
                path = Path(self.env["HOME"], name[2:]) if name.startswith("~/") else self.project / name
                path.parent.mkdir(parents=True, exist_ok=True)
                make(path)
        running = [self.start(Command(block.doc, block.line, arg), ready) for arg, ready in block.get("before")]
        for arg, _ in block.get("setup"):
            self.run(Command(block.doc, block.line, arg), "setup")
        for cmd in block.commands():
            if (hit := block.matching("no-run", cmd) or block.matching("covered", cmd)) is not None:
                self.not_run.append((cmd, hit[1]))
            elif (hit := block.matching("background", cmd)) is not None:
                running.append(self.start(cmd, hit[1]))
            else:
                self.run(cmd, f"exit {hit[1]}" if (hit := block.matching("exit", cmd)) else "run")
        for i in reversed(running):
            self.stop(i)


def _command_words(cmd: Command) -> list[str]:
    """The sub-command words of a command (``make demo`` -> demo; ``peaktrade experiment run X`` -> experiment, run)."""
    words = shlex.split(cmd.text, comments=True)[1:3]
    return [w for w in words if re.fullmatch(r"[a-z][a-z-]*", w)]


def _tail(path: Path, n: int = 1500) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


def run_doc(doc: Path, tmp: Path, *, root: Path = REPO_ROOT) -> list[str]:
    """Run every bash block of ``doc``; return one message per failure (doc:line: command, why, output)."""
    blocks = read_blocks(doc, root)
    tmp.mkdir(parents=True, exist_ok=True)
    env = doc_env(tmp)
    s = Session(tmp, env, blocks)
    for n, b in enumerate(blocks, start=1):
        if b.lang == "bash":
            s.add_block(b, n)
    problems = []
    for cmd, why in s.not_run:
        test = REPO_ROOT / why.split()[0] if why.startswith("tests/") else None
        if test is not None and not test.is_file():
            problems.append(f"{cmd.where()}\n  covered by {why}, which does not exist")
        elif test is not None and (missing := [w for w in _command_words(cmd) if w not in test.read_text(encoding="utf-8")]):
            problems.append(f"{cmd.where()}\n  covered by {why}, which does not name {' '.join(missing)}")
        elif (p := check_not_run(cmd, s.project, env)) is not None:
            problems.append(f"{cmd.where()}\n  (not run: {why}) {p}")
    if not s.commands:
        return problems
    out = tmp / "out"
    out.mkdir()
    script = tmp / "session.sh"
    script.write_text("\n".join(s.lines) + "\n", encoding="utf-8")
    proc = subprocess.Popen(["bash", str(script), str(out)], cwd=s.project, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        session_out, _ = proc.communicate(timeout=1200)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # the session and its foreground commands (start_new_session)
        session_out = b"(the session did not end within 1200 s)"
    finally:
        for pid in out.glob("*.pid"):  # never leave a background command running
            try:
                os.killpg(int(pid.read_text()), 9)
            except (ProcessLookupError, ValueError, PermissionError):
                pass
    status: dict[str, list[str]] = {}
    for line in (out / "status").read_text().splitlines() if (out / "status").exists() else []:
        i, _, rest = line.partition(" ")
        status.setdefault(i, []).append(rest)
    for i, (cmd, how) in s.commands.items():
        err, stdout = _tail(out / f"{i}.err"), _tail(out / f"{i}.out")
        why = []
        got = status.get(i, [])
        if not got:
            why.append("never ran to its end (an earlier command hung?)")
        for rest in got:
            if rest.startswith(("notready", "nostop")):
                why.append(rest.split(" ", 1)[1])
            elif how == "background" and rest not in ("0", "130"):
                why.append(f"exit status {rest} after Ctrl-C (expected 0, or 130 for the interrupt)")
            elif how.startswith("exit "):
                if rest != how.split()[1]:
                    why.append(f"exit status {rest} (the doc says {how.split()[1]})")
            elif how != "background" and rest != "0":
                why.append(f"exit status {rest}")
        if "Traceback (most recent call last)" in err + stdout:
            why.append("printed a traceback")
        if "--json" in shlex.split(cmd.text, comments=True) and got == ["0"]:
            try:
                json.loads((out / f"{i}.out").read_text())
            except ValueError as e:
                why.append(f"--json output is not JSON ({e})")
        if why:
            label = " (setup)" if how == "setup" else ""
            problems.append(f"{cmd.where()}{label}\n  {'; '.join(why)}\n  stdout: ...{stdout[-800:]}\n"
                            f"  stderr: ...{err}")
    if proc.returncode not in (0, None) and not problems:
        problems.append(f"{doc.name}: the session failed: {session_out.decode(errors='replace')[-2000:]}")
    return problems


# -- tests ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_doc_commands_when_run_in_a_fresh_project_then_each_exits_0(doc, tmp_path):
    problems = run_doc(doc, tmp_path)
    assert not problems, f"{len(problems)} command(s) of {doc.name} failed:\n\n" + "\n\n".join(problems)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_doc_blocks_when_not_bash_then_hold_no_runnable_command(doc):
    # a command in a block not labelled bash would escape this test: label it bash (run) or text (a synopsis)
    found = [c.where() for b in read_blocks(doc, REPO_ROOT) for c in looks_like_shell(b)]
    assert not found, "commands outside ```bash blocks (label the block bash, or text for a synopsis):\n" + "\n".join(found)


def test_doc_markers_when_a_directive_is_unknown_then_the_error_names_doc_and_line(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("intro\n<!-- doc-test\nbackground: peaktrade mlflow ui\nskip: make test\n-->\n```bash\nmake test\n```\n")
    with pytest.raises(DocMarkerError, match=r"x.md:2: unknown doc-test directive 'skip'"):
        read_blocks(doc, tmp_path)
    doc.write_text("<!-- doc-test\nno-run: make bench\n-->\n```bash\nmake bench\n```\n")
    with pytest.raises(DocMarkerError, match="needs ' | <reason"):
        read_blocks(doc, tmp_path)


def test_doc_session_when_a_command_fails_then_the_message_names_doc_line_and_command(tmp_path):
    doc = tmp_path / "docs" / "probe.md"
    doc.parent.mkdir()
    doc.write_text("# probe\n\n```bash\npeaktrade strategies list\npeaktrade backtest no_such_strategy --exchange synthetic\n"
                   "peaktrade strategies show ma_crossover --json\n```\n", encoding="utf-8")
    problems = run_doc(doc, tmp_path / "run", root=tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("docs/probe.md:5: peaktrade backtest no_such_strategy")
    assert "exit status 1" in problems[0] or "exit status 2" in problems[0]


def test_check_not_run_when_an_option_is_not_in_the_cli_then_it_is_named(tmp_path):
    env = doc_env(tmp_path)
    good = Command("d.md", 1, "peaktrade data download --exchange kraken --symbol BTC/USD -t 1h --since 2024-01-01")
    assert check_not_run(good, tmp_path, env) is None
    bad = Command("d.md", 2, "peaktrade data download --exchange kraken --from 2024-01-01")
    assert check_not_run(bad, tmp_path, env) == "peaktrade data download has no option(s) --from"
    assert "no sub-command 'fetch'" in check_not_run(Command("d.md", 3, "peaktrade data fetch"), tmp_path, env)


def test_readme_docs_list_when_read_then_names_every_doc():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in DOCS[1:] if f"`docs/{p.name}`" not in readme]
    assert not missing, f"README.md's docs list does not name: {', '.join(missing)}"


# -- experiment specs: the description says what the grid is ---------------------------------------------------
SPECS = sorted((REPO_ROOT / "experiments").glob("*.toml"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_spec_description_when_it_names_a_range_then_the_grid_spans_it(spec):
    from peaktrade.experiments.grid import parse_grid

    data = tomllib.loads(spec.read_text(encoding="utf-8"))
    grid = data.get("parameters", {}).get("grid", {})
    grid = parse_grid(grid, what="grid") if grid else {}
    ranges = re.findall(r"\b([a-z_]+) (\d+(?:\.\d+)?)\.\.(\d+(?:\.\d+)?)", data.get("description", ""))
    for name, lo, hi in ranges:
        assert name in grid, f"{spec.name}: the description names {name} {lo}..{hi}, the grid has no {name}"
        values = [float(v) for v in grid[name]]
        assert (min(values), max(values)) == (float(lo), float(hi)), (
            f"{spec.name}: the description says {name} {lo}..{hi}, the grid spans {min(values):g}..{max(values):g}")


def test_directive_when_prefix_ends_with_dollar_then_only_the_whole_command_matches():
    b = Block("d.md", 1, "bash", "", [("background", "peaktrade mlflow ui$", "")])
    assert b.matching("background", Command("d.md", 2, "peaktrade mlflow ui   # serve it"))
    assert b.matching("background", Command("d.md", 3, "peaktrade mlflow ui --port 5001 --dry-run")) is None
