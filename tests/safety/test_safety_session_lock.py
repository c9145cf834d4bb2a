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


def test_acquire_when_lock_file_is_a_planted_symlink_then_refused_and_target_untouched(tmp_path):
    locks = tmp_path / "locks"
    SessionLock.acquire(locks / "other.lock", run_id="r").release()  # the directory exists, as in use
    assert oct(locks.stat().st_mode & 0o777) == "0o700"
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (locks / "x.lock").symlink_to(target)
    with pytest.raises(Exception, match="session lock .*x.lock cannot be opened \\(it is a symlink\\).*fail closed"):
        SessionLock.acquire(locks / "x.lock", run_id="r")
    assert target.read_text() == "keep me"


def test_acquire_when_lock_directory_is_a_symlink_then_refused(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir()
    (tmp_path / "locks").symlink_to(real)
    with pytest.raises(Exception, match="cannot be opened \\(its directory .*locks is a symlink\\)"):
        SessionLock.acquire(tmp_path / "locks" / "x.lock", run_id="r")
    assert list(real.iterdir()) == []
