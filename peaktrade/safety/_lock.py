"""One instance per (account, strategy, symbol): the session lock in the state directory.

A testnet or live session takes the lock before its run directory exists and holds it until it ends; a
second session of the same account, strategy and symbol (a cron run overlapping a manual one) refuses to
start and names the holder. The lock is an ``flock`` on ``<state_dir>/locks/<environment>.<account>.
<strategy>.<symbol>.lock``: the kernel releases it when the holding process dies, however it dies (kill
-9 included), so a lock can never outlive its process. The file holds who took it (pid, host, run id,
start time, as JSON); a clean release empties it, so a non-empty file found free was left by a process
that died: the next session takes it over and says so.

The file is never deleted (deleting a locked file lets two processes lock two different files of the
same name). ``flock`` is local to one machine: a state directory shared between hosts over NFS is not
protected (docs/safety.md).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import socket
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peaktrade.safety._environment import TradingEnvironment
from peaktrade.safety._errors import SafetyError

if TYPE_CHECKING:
    from peaktrade.config import Config

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class SessionLocked(SafetyError):
    """Another running session holds the lock of this (account, strategy, symbol)."""


def _part(text: str) -> str:
    return _UNSAFE.sub("_", str(text)).strip("._") or "_"


def _pid_alive(pid: Any) -> bool | None:
    """True/False for a pid of this host; None when it cannot be told."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return None
    return True


def describe_holder(holder: dict[str, Any]) -> str:
    """Return ``pid N on HOST, run RUN, since STARTED`` (fields that are missing are left out)."""
    parts = [f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"]
    if holder.get("run_id"):
        parts.append(f"run {holder['run_id']}")
    if holder.get("started"):
        parts.append(f"since {holder['started']}")
    return ", ".join(parts)


@dataclass
class SessionLock:
    """The lock of one (environment, account, strategy, symbol); use :meth:`acquire` (a context manager too).

    Attributes
    ----------
    path
        The lock file.
    took_over
        The holder record left by a process that died without releasing (None when the lock was clean).
    message
        A one-line note for the run log and the terminal when a stale lock was taken over, else None.
    """

    path: Path
    holder: dict[str, Any]
    took_over: dict[str, Any] | None = None
    message: str | None = None
    _fd: int | None = None

    @staticmethod
    def path_for(state_dir: Path, *, environment: str, account: str, strategy: str, symbol: str) -> Path:
        """Return the lock file of a session key (every part reduced to ``[A-Za-z0-9_.-]``)."""
        name = ".".join(_part(p) for p in (environment, account, strategy, symbol))
        return Path(state_dir) / "locks" / f"{name}.lock"

    @classmethod
    def for_session(cls, config: Config, environment: TradingEnvironment | str, *, strategy: str, symbol: str,
                    run_id: str) -> SessionLock:
        """Acquire the lock of a session of ``config``'s account (see :meth:`acquire`)."""
        from peaktrade.safety._limits import account_id

        env = TradingEnvironment.parse(environment)
        path = cls.path_for(config.state_dir, environment=env.value, account=account_id(config, env),
                            strategy=strategy, symbol=symbol)
        return cls.acquire(path, run_id=run_id, key={"environment": env.value, "strategy": strategy,
                                                     "symbol": symbol})

    @classmethod
    def holders(cls, config: Config, environment: TradingEnvironment | str) -> list[dict[str, Any]]:
        """Return the holders of the running sessions of ``config``'s account in ``environment`` (each with
        its ``lock`` path): what an account-wide action (cancel-all, the dead-man switch) must not disturb."""
        from peaktrade.safety._limits import account_id

        env = TradingEnvironment.parse(environment)
        locks = Path(config.state_dir) / "locks"
        prefix = f"{_part(env.value)}.{_part(account_id(config, env))}."
        out = []
        for path in sorted(locks.glob(f"{prefix}*.lock")) if locks.is_dir() else []:
            holder = read_holder(path)
            if holder is not None:
                out.append({**holder, "lock": str(path)})
        return out

    @classmethod
    def acquire(cls, path: Path, *, run_id: str, key: dict[str, Any] | None = None) -> SessionLock:
        """Take the lock at ``path`` without waiting; raise :class:`SessionLocked` naming the holder.

        Raises :class:`~peaktrade.safety.SafetyError` when the lock file cannot be used (fail closed: no
        lock, no session).
        """
        path = Path(path)
        try:
            bad_dir = _private_dir(path.parent)
            if bad_dir:
                raise SafetyError(f"session lock {path} cannot be opened ({bad_dir}): refusing to start "
                                  "(fail closed)")
            # never through a symlink (a planted link would make us truncate and write its target)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as e:
            why = "it is a symlink" if e.errno == errno.ELOOP else (e.strerror or str(e))
            raise SafetyError(f"session lock {path} cannot be opened ({why}): refusing to start "
                              "(fail closed)") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            os.close(fd)
            raise SafetyError(f"session lock {path} is not a regular file owned by uid {os.geteuid()} (uid "
                              f"{st.st_uid}, mode {stat.filemode(st.st_mode)}): refusing to start (fail closed)")
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise SafetyError(f"session lock {path} cannot be taken ({e.strerror or e}): refusing to "
                                      "start (fail closed)") from None
                holder = _read(fd)
                who = describe_holder(holder) if holder else "a process that has not written its name yet"
                raise SessionLocked(f"another session is running ({who}): one instance per account, strategy "
                                    f"and symbol; lock {path}") from None
            previous = _read(fd)
            holder = {**(key or {}), "pid": os.getpid(), "host": socket.gethostname(), "run_id": run_id,
                      "started": datetime.now(UTC).isoformat(timespec="seconds")}
            _write(fd, holder)
        except BaseException:
            os.close(fd)
            raise
        lock = cls(path, holder, _fd=fd)
        if previous:
            lock.took_over = previous
            alive = _pid_alive(previous.get("pid")) if previous.get("host") == holder["host"] else None
            state = "not running" if alive is False else "its lock was released by the kernel"
            lock.message = (f"took over a stale session lock left by {describe_holder(previous)} ({state}: it "
                            "ended without releasing it, e.g. killed); reconcile with the venue before trading")
        return lock

    def release(self) -> None:
        """Empty the lock file (a clean end) and unlock it. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass  # a holder record left behind is only reported as stale by the next session
        finally:
            os.close(fd)  # closing releases the flock

    def start_fields(self) -> dict[str, Any]:
        """Return the fields a session's ``start`` event records about its lock (and a stale one taken over)."""
        out: dict[str, Any] = {"lock": str(self.path)}
        if self.message:
            out["stale_lock"] = self.message
        return out

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> SessionLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def read_holder(path: Path) -> dict[str, Any] | None:
    """Return the holder of the lock at ``path`` when a running process holds it, else None."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return _read(fd) or {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _private_dir(d: Path) -> str | None:
    """Create the locks directory 0700; return why it cannot be used (a symlink, another user's), else None."""
    d.parent.mkdir(parents=True, exist_ok=True)
    try:
        d.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = os.lstat(d)
    if stat.S_ISLNK(st.st_mode):
        return f"its directory {d} is a symlink"
    if not stat.S_ISDIR(st.st_mode):
        return f"{d} is not a directory"
    if st.st_uid != os.geteuid():
        return f"its directory {d} is owned by uid {st.st_uid}, not by uid {os.geteuid()}"
    return None


def _read(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 65536)
        value = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (OSError, ValueError):
        return {"pid": "?", "host": "?", "note": "unreadable holder record"}
    return value if isinstance(value, dict) else {"pid": "?", "host": "?"}


def _write(fd: int, holder: dict[str, Any]) -> None:
    data = json.dumps(holder, sort_keys=True).encode("utf-8")
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
    os.fsync(fd)
