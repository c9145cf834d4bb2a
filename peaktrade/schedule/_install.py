"""Render a schedule as systemd user units or a crontab line, and install / remove them.

Nothing here decides what a run does: the unit and the line only call ``peaktrade schedule run NAME``
(the entry point, :func:`peaktrade.schedule.run_schedule`) in the project root.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from peaktrade._files import atomic_write_text
from peaktrade.schedule._timing import ScheduleError

if TYPE_CHECKING:
    from peaktrade.config import Config
    from peaktrade.schedule._core import Schedule

#: Comment ending every crontab line peaktrade manages: how ``list`` and ``remove`` find their lines.
CRON_MARK = "# peaktrade-schedule:"


def unit_name(name: str) -> str:
    """Return the systemd unit stem of a schedule (``peaktrade-NAME``)."""
    return f"peaktrade-{name}"


def _sd_quote(arg: str) -> str:
    """Quote one word for a systemd ``ExecStart=``/``Environment=`` line (``%`` is a specifier there)."""
    arg = arg.replace("%", "%%")
    if arg and not any(c in arg for c in ' \t"\'\\;$'):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_units(s: Schedule) -> dict[str, str]:
    """Return ``{file name: text}`` of the schedule's ``.service`` and ``.timer`` (``Persistent=true``: a run
    missed while the machine was off or asleep runs once when it is back)."""
    stem = unit_name(s.name)
    env = "".join(f"Environment={_sd_quote(f'{k}={v}')}\n" for k, v in sorted(s.env.items()))
    service = (f"[Unit]\nDescription=peaktrade schedule {s.name}: {s.target_text}\n\n"
               f"[Service]\nType=oneshot\nWorkingDirectory={str(s.root).replace('%', '%%')}\n{env}"
               f"ExecStart={' '.join(_sd_quote(a) for a in s.entry_argv())}\n")
    timer = (f"[Unit]\nDescription=Run peaktrade schedule {s.name} ({s.timing.text})\n\n"
             f"[Timer]\nOnCalendar={s.timing.on_calendar}\nPersistent=true\nUnit={stem}.service\n\n"
             "[Install]\nWantedBy=timers.target\n")
    return {f"{stem}.service": service, f"{stem}.timer": timer}


def render_cron_line(s: Schedule, *, lock_dir: Path, log: Path) -> str:
    """Return the schedule's crontab line: ``flock -n`` so cron never starts a run while the last one of the
    same schedule still holds the lock (``-n``: skip, do not queue), output appended to ``log``."""
    env = "".join(f"{k}={shlex.quote(v)} " for k, v in sorted(s.env.items()))  # assignments: NAME unquoted
    words = ["flock", "-n", str(lock_dir / f"{s.name}.cron.lock"), *s.entry_argv()]
    cmd = f"cd {shlex.quote(str(s.root))} && {env}{shlex.join(words)} >> {shlex.quote(str(log))} 2>&1"
    if "%" in cmd or "\n" in cmd:
        # cron turns an unescaped % into a newline; refuse rather than run something else. Named, never echoed: the
        # command holds the carried variables' values
        parts = {"the project root": str(s.root), "the lock directory": str(lock_dir), "the log file": str(log),
                 "the Python interpreter": s.python, "the config path": s.config_path or "",
                 **{f"the value of {k}": v for k, v in s.env.items()}}
        bad = ", ".join(what for what, text in parts.items() if "%" in text or "\n" in text) or "the command"
        raise ScheduleError(f"cannot write a crontab line for schedule {s.name}: {bad} contains '%' or a newline "
                            "(cron would cut the line there); use paths and values without them")
    return f"{s.timing.cron} {cmd} {CRON_MARK}{s.name}"


class Installer(Protocol):
    """Where schedules are installed: systemd user units or a crontab."""

    backend: str

    def install(self, s: Schedule) -> list[str]:
        """Install ``s`` (replacing a schedule of the same name); return what was done, one line each."""

    def remove(self, name: str) -> list[str]:
        """Remove schedule ``name`` if installed; return what was done (empty: it was not installed)."""

    def installed(self) -> set[str]:
        """Return the names of the installed peaktrade schedules."""


def _run(cmd: list[str], *, input_text: str | None = None, ok_codes: tuple[int, ...] = (0,)) -> str:
    try:
        p = subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ScheduleError(f"`{shlex.join(cmd)}` failed: {e}") from None
    if p.returncode not in ok_codes:
        raise ScheduleError(f"`{shlex.join(cmd)}` failed (exit {p.returncode}): {(p.stderr or p.stdout).strip()}")
    return p.stdout


@dataclass
class SystemdInstaller:
    """Units in ``unit_dir``; with ``systemctl``, ``systemctl --user`` reloads and enables them."""

    unit_dir: Path
    systemctl: bool = True
    backend: str = "systemd"

    def _ctl(self, *args: str) -> list[str]:
        cmd = ["systemctl", "--user", *args]
        if not self.systemctl:
            return [f"run: {shlex.join(cmd)}"]
        _run(cmd)
        return [f"ran: {shlex.join(cmd)}"]

    def install(self, s: Schedule) -> list[str]:
        done = []
        for fname, text in render_units(s).items():
            atomic_write_text(self.unit_dir / fname, text)
            done.append(f"wrote {self.unit_dir / fname}")
        try:
            done += self._ctl("daemon-reload") + self._ctl("enable", "--now", f"{unit_name(s.name)}.timer")
        except ScheduleError:
            for fname in render_units(s):  # nothing half-installed: the schedule is not recorded either
                (self.unit_dir / fname).unlink(missing_ok=True)
            raise
        return done

    def remove(self, name: str) -> list[str]:
        files = [self.unit_dir / f"{unit_name(name)}.{ext}" for ext in ("timer", "service")]
        if not any(f.exists() for f in files):
            return []
        done = self._ctl("disable", "--now", f"{unit_name(name)}.timer")
        for f in files:
            f.unlink(missing_ok=True)
            done.append(f"removed {f}")
        return done + self._ctl("daemon-reload")

    def installed(self) -> set[str]:
        if not self.unit_dir.is_dir():
            return set()
        return {p.name[len("peaktrade-"):-len(".timer")] for p in self.unit_dir.glob("peaktrade-*.timer")}


@dataclass
class CronInstaller:
    """Lines in the user's crontab (``crontab -l`` / ``crontab -``) or in ``crontab_file`` when set."""

    lock_dir: Path
    crontab_file: Path | None = None
    backend: str = "cron"

    def _read(self) -> str:
        if self.crontab_file is not None:
            return self.crontab_file.read_text(encoding="utf-8") if self.crontab_file.exists() else ""
        if shutil.which("crontab") is None:
            raise ScheduleError("no `crontab` command on this machine and no [schedule] crontab_file: install cron, "
                                "or use systemd ([schedule] backend = \"systemd\")")
        out = _run(["crontab", "-l"], ok_codes=(0, 1))  # 1: "no crontab for USER"
        return out

    def _write(self, text: str) -> str:
        if self.crontab_file is not None:
            atomic_write_text(self.crontab_file, text)
            return f"wrote {self.crontab_file}"
        _run(["crontab", "-"], input_text=text)
        return "installed the crontab (crontab -)"

    @staticmethod
    def _without(text: str, name: str) -> tuple[list[str], bool]:
        lines = text.splitlines()
        kept = [ln for ln in lines if not ln.rstrip().endswith(f"{CRON_MARK}{name}")]
        return kept, len(kept) != len(lines)

    def install(self, s: Schedule) -> list[str]:
        line = render_cron_line(s, lock_dir=self.lock_dir, log=self.lock_dir / f"{s.name}.log")
        kept, _ = self._without(self._read(), s.name)
        return [self._write("\n".join([*kept, line]) + "\n"), f"line: {line}"]

    def remove(self, name: str) -> list[str]:
        kept, found = self._without(self._read(), name)
        if not found:
            return []
        return [self._write("\n".join(kept) + "\n" if kept else "")]

    def installed(self) -> set[str]:
        return {ln.rstrip().rsplit(CRON_MARK, 1)[1] for ln in self._read().splitlines() if CRON_MARK in ln}


def systemd_running() -> bool:
    """Return whether this machine runs systemd (the check ``sd_booted()`` makes) and has ``systemctl``."""
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def installer(config: Config, backend: str | None = None) -> Installer:
    """Return the installer of ``backend`` (default ``[schedule] backend``; ``auto``: systemd where it runs)."""
    from peaktrade.schedule._core import schedule_dir

    choice = backend or config.schedule.backend
    if choice == "auto":
        choice = "systemd" if systemd_running() else "cron"
    if choice == "systemd":
        unit_dir = config.schedule.unit_dir or Path.home() / ".config" / "systemd" / "user"
        return SystemdInstaller(unit_dir, systemctl=config.schedule.systemctl)
    if choice == "cron":
        return CronInstaller(schedule_dir(config), crontab_file=config.schedule.crontab_file)
    raise ScheduleError(f"--backend {choice!r} is invalid: expected auto, systemd or cron")
