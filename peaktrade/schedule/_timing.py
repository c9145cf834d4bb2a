"""When a schedule fires: ``--every`` periods and 5-field cron expressions, as a crontab time field and a
systemd ``OnCalendar=`` value that fire at the same minutes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from peaktrade.errors import PeakTradeError


class ScheduleError(PeakTradeError, ValueError):
    """A schedule, its timing, its target or its installation is invalid."""


@dataclass(frozen=True)
class Timing:
    """One schedule's timing: what the user wrote, the crontab time field and the systemd calendar."""

    #: ``every 1h`` or ``cron 30 * * * *``: as given (shown by ``schedule list``).
    text: str
    #: Five crontab fields (minute hour day-of-month month day-of-week).
    cron: str
    #: systemd ``OnCalendar=`` value firing at the same minutes (UTC or local: the machine's zone, as cron).
    on_calendar: str


_DIVISORS = {"m": 60, "h": 24}
_EVERY = re.compile(r"^(\d+)([mhd])$")
_MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
           "@monthly": "0 0 1 * *"}
#: (name, low, high) of the five cron fields.
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_DOW = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def every(period: str) -> Timing:
    """Return the timing of ``--every PERIOD``: ``Nm`` (N divides 60), ``Nh`` (N divides 24) or ``1d``.

    Periods are aligned to the clock (``15m`` fires at :00, :15, :30, :45; ``6h`` at 00:00, 06:00, ...),
    the only periods cron and systemd calendars both express exactly.
    """
    m = _EVERY.match(period.strip())
    n, unit = (int(m.group(1)), m.group(2)) if m else (0, "")
    if unit == "m" and 0 < n < 60 and 60 % n == 0:
        cron, cal = (f"*/{n} * * * *", f"*-*-* *:00/{n}:00") if n > 1 else ("* * * * *", "*-*-* *:*:00")
    elif unit == "h" and 0 < n < 24 and 24 % n == 0:
        cron, cal = (f"0 */{n} * * *", f"*-*-* 00/{n}:00:00") if n > 1 else ("0 * * * *", "*-*-* *:00:00")
    elif (unit == "d" and n == 1) or (unit == "h" and n == 24):
        cron, cal = "0 0 * * *", "*-*-* 00:00:00"
    else:
        minutes = ", ".join(str(d) for d in range(1, 60) if 60 % d == 0)
        hours = ", ".join(str(d) for d in range(1, 24) if 24 % d == 0)
        raise ScheduleError(f"--every {period!r} is invalid: expected Nm with N one of {minutes}; Nh with N one of "
                            f"{hours}; or 1d (clock-aligned periods; use --cron EXPR for anything else)")
    return Timing(f"every {period.strip()}", cron, cal)


def _field(text: str, name: str, lo: int, hi: int, expr: str) -> list[int] | None:
    """Return the sorted values of one cron field, or None for ``*`` (every value)."""
    if text == "*":
        return None
    out: set[int] = set()
    for item in text.split(","):
        m = re.fullmatch(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?", item)
        if not m:
            raise ScheduleError(f"--cron {expr!r}: {name} field {text!r} is invalid: expected *, N, A-B, a list "
                                f"A,B or a step */S or A-B/S (numbers {lo}-{hi}; names are not supported)")
        start = lo if m.group(1) == "*" else int(m.group(1))
        stop = int(m.group(2)) if m.group(2) else (hi if m.group(1) == "*" or m.group(3) else start)
        step = int(m.group(3)) if m.group(3) else 1
        if not (lo <= start <= hi and lo <= stop <= hi and start <= stop and step >= 1):
            raise ScheduleError(f"--cron {expr!r}: {name} field {text!r} is out of range: expected {lo}-{hi}, "
                                "ranges low-high and steps >= 1")
        out.update(range(start, stop + 1, step))
    return sorted(out)


def _cal_list(values: list[int] | None, width: int = 2) -> str:
    return "*" if values is None else ",".join(f"{v:0{width}d}" for v in values)


def cron(expr: str) -> Timing:
    """Return the timing of ``--cron EXPR``: five fields (``*``, ``N``, ``A-B``, lists, ``/S`` steps; day of
    week 0-7, 0 and 7 = Sunday) or ``@hourly``, ``@daily``, ``@weekly``, ``@monthly``."""
    text = " ".join(expr.split())
    fields_text = _MACROS.get(text, text).split(" ")
    if len(fields_text) != 5:
        raise ScheduleError(f"--cron {expr!r} is invalid: expected five fields (minute hour day-of-month month "
                            f"day-of-week), e.g. '30 * * * *', or one of {', '.join(_MACROS)}")
    mi, ho, dom, mon, dow = (_field(t, *f, expr) for t, f in zip(fields_text, _FIELDS))
    if dow is not None:
        dow = sorted({d % 7 for d in dow})
        dow = None if len(dow) == 7 else dow
    if dom is not None and dow is not None:
        # cron fires when EITHER day field matches, a systemd calendar when both do: no exact translation
        raise ScheduleError(f"--cron {expr!r} restricts both day of month and day of week (cron then fires on "
                            "either): restrict one of them and leave the other *")
    days = "" if dow is None else ",".join(_DOW[d] for d in dow) + " "
    cal = f"{days}*-{_cal_list(mon)}-{_cal_list(dom)} {_cal_list(ho)}:{_cal_list(mi)}:00"
    return Timing(f"cron {text}", " ".join(fields_text), cal)

