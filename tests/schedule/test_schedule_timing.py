"""``--every`` / ``--cron``: one timing, rendered as a crontab time field and a systemd calendar that fire at the
same minutes (checked against systemd's own calendar parser), bad input refused with one line naming it."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from peaktrade.schedule import ScheduleError, cron, every


@pytest.mark.parametrize(("period", "cron_field", "calendar"), [
    ("1m", "* * * * *", "*-*-* *:*:00"),
    ("15m", "*/15 * * * *", "*-*-* *:00/15:00"),
    ("1h", "0 * * * *", "*-*-* *:00:00"),
    ("6h", "0 */6 * * *", "*-*-* 00/6:00:00"),
    ("1d", "0 0 * * *", "*-*-* 00:00:00"),
])
def test_every_when_clock_aligned_period_then_cron_field_and_calendar(period, cron_field, calendar):
    t = every(period)
    assert (t.text, t.cron, t.on_calendar) == (f"every {period}", cron_field, calendar)


def test_cron_when_fields_lists_ranges_steps_then_calendar_lists_the_same_values():
    t = cron("*/20 9-17 * * 1-5")
    assert t.cron == "*/20 9-17 * * 1-5"
    assert t.on_calendar == "Mon,Tue,Wed,Thu,Fri *-*-* 09,10,11,12,13,14,15,16,17:00,20,40:00"
    assert cron("@daily").cron == "0 0 * * *" and cron("0 0 * * 0,7").on_calendar == "Sun *-*-* 00:00:00"


@pytest.mark.parametrize(("call", "arg", "named"), [
    (every, "7m", "--every '7m' is invalid"),
    (every, "2d", "--every '2d' is invalid"),
    (every, "hourly", "--every 'hourly' is invalid"),
    (cron, "61 * * * *", "minute field '61' is out of range"),
    (cron, "* * * *", "expected five fields"),
    (cron, "0 0 * jan *", "month field 'jan' is invalid"),
    (cron, "0 0 1 * 1", "restricts both day of month and day of week"),
])
def test_timing_when_invalid_then_one_line_error_naming_the_value(call, arg, named):
    with pytest.raises(ScheduleError, match=re.escape(named)) as e:
        call(arg)
    assert "\n" not in str(e.value)


def _cron_fires(expr: str, t: datetime) -> bool:
    """An independent reading of a crontab time field: does it fire at minute ``t``?"""
    def values(field: str, lo: int, hi: int) -> set[int]:
        out: set[int] = set()
        for item in field.split(","):
            rng, _, step = item.partition("/")
            a, b = (lo, hi) if rng == "*" else (int(rng.split("-")[0]), int(rng.split("-")[-1]))
            if step and rng != "*" and "-" not in rng:
                b = hi
            out |= set(range(a, b + 1, int(step or 1)))
        return out
    mi, ho, dom, mon, dow = expr.split()
    return (t.minute in values(mi, 0, 59) and t.hour in values(ho, 0, 23) and t.day in values(dom, 1, 31)
            and t.month in values(mon, 1, 12) and (t.isoweekday() % 7) in {d % 7 for d in values(dow, 0, 7)})


@pytest.mark.parametrize("timing", [every("15m"), every("1h"), every("8h"), every("1d"), cron("30 * * * *"),
                                    cron("*/20 9-17 * * 1-5"), cron("5 4 1,15 * *"), cron("0 12 * 2-3 6,0")])
def test_timing_when_rendered_then_systemd_calendar_fires_at_the_cron_minutes(timing):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed: systemd's calendar parser is the oracle of this check")
    base = datetime(2026, 1, 30, 23, 50, tzinfo=UTC)
    n = 12
    p = subprocess.run(["systemd-analyze", "calendar", f"--base-time={base:%Y-%m-%d %H:%M:%S} UTC", "--iterations",
                        str(n), timing.on_calendar], capture_output=True, text=True, env={"TZ": "UTC"}, check=True)
    got = [datetime.strptime(m, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
           for m in re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} (\S+ \S+) UTC", p.stdout)]
    want, t = [], base
    while len(want) < n:
        t += timedelta(minutes=1)
        if _cron_fires(timing.cron, t):
            want.append(t)
    assert got == want
