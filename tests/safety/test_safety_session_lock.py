"""One instance per (account, strategy, symbol) (issue 17, item 4): a second session refuses to start and names
the holder; a lock left by a process that died (kill -9) is detected and taken over with a message. The holder
is a real second process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from peaktrade.safety import SessionLock, SessionLocked, read_holder

_HOLDER = textwrap.dedent("""
    import sys
    from peaktrade.safety import SessionLock
    lock = SessionLock.acquire(sys.argv[1], run_id="cron-run-7")
    print("held", flush=True)
    sys.stdin.readline()
    lock.release()
""")


def _holder(path):
    p = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert p.stdout.readline().strip() == "held"
    return p


def test_acquire_when_another_process_holds_the_lock_then_refused_naming_the_holder(tmp_path):
    path = SessionLock.path_for(tmp_path, environment="testnet", account="key-abc", strategy="ma_crossover",
                                symbol="BTC/USD")
    assert path.name == "testnet.key-abc.ma_crossover.BTC_USD.lock"
    p = _holder(path)
    try:
        with pytest.raises(SessionLocked, match=rf"another session is running \(pid {p.pid} on "
                                                rf"{socket.gethostname()}, run cron-run-7, since .*\)"):
            SessionLock.acquire(path, run_id="manual-1")
        assert read_holder(path)["pid"] == p.pid
    finally:
        p.communicate("\n", timeout=30)  # a clean exit releases the lock
    with SessionLock.acquire(path, run_id="manual-2") as lock:
        assert lock.took_over is None and lock.message is None  # released cleanly: nothing stale
        assert read_holder(path)["run_id"] == "manual-2"
    assert read_holder(path) is None


def test_acquire_when_holder_was_killed_then_stale_lock_detected_and_taken_over_with_a_message(tmp_path):
    path = tmp_path / "locks" / "x.lock"
    p = _holder(path)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    lock = SessionLock.acquire(path, run_id="after-crash")
    try:
        assert lock.took_over["pid"] == p.pid and lock.took_over["run_id"] == "cron-run-7"
        assert lock.message.startswith(f"took over a stale session lock left by pid {p.pid} on ")
        assert "(not running:" in lock.message and lock.start_fields()["stale_lock"] == lock.message
    finally:
        lock.release()


def test_acquire_when_lock_directory_unusable_then_refuses_fail_closed(tmp_path):
    (tmp_path / "locks").write_text("a file where the directory should be")
    with pytest.raises(Exception, match="session lock .* cannot be opened.*fail closed"):
        SessionLock.acquire(tmp_path / "locks" / "x.lock", run_id="r")
