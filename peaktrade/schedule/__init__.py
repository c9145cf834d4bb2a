"""Scheduled runs of experiment specs and testnet notebooks: systemd user timers or crontab lines that call
one entry point, ``peaktrade schedule run NAME`` (docs/scheduling.md)."""

from peaktrade.schedule._core import (
    Schedule,
    ScheduledRun,
    add_schedule,
    list_schedules,
    load_schedule,
    plan_schedule,
    remove_schedule,
    run_schedule,
    schedule_dir,
)
from peaktrade.schedule._install import CronInstaller, SystemdInstaller, installer, render_cron_line, render_units
from peaktrade.schedule._timing import ScheduleError, Timing, cron, every

__all__ = ["CronInstaller", "Schedule", "ScheduleError", "ScheduledRun", "SystemdInstaller", "Timing",
           "add_schedule", "cron", "every", "installer", "list_schedules", "load_schedule", "plan_schedule",
           "remove_schedule", "render_cron_line", "render_units", "run_schedule", "schedule_dir"]
