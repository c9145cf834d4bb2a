"""Choose a writable numba cache directory before any ``cache=True`` kernel is compiled.

numba writes its cache next to the sources (``__pycache__``). Where that is read-only (a system-wide
install) numba would fail at import, and some setups hang (vectorbt #816). Order of preference:

1. ``NUMBA_CACHE_DIR`` when the user set it and it is writable;
2. numba's default next to the sources, when writable;
3. ``$XDG_CACHE_HOME/peaktrade/numba`` (``~/.cache/peaktrade/numba``);
4. a private directory in the temp dir (mode 0700, owned by this user; a fresh one if the usual
   name is taken by someone else), so nothing another user planted is ever loaded.

When numba is already imported (e.g. a notebook imported vectorbt first) its config is updated too,
since numba reads the environment only once.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path


def _writable(d: Path) -> bool:
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=d):
            return True
    except OSError:
        return False


def _private_tmp() -> Path | None:
    """Return a temp-dir cache directory only this user can write, or None."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    d = Path(tempfile.gettempdir()) / f"peaktrade-numba-{uid}"
    try:
        d.mkdir(mode=0o700, exist_ok=True)
        st = d.lstat()
        if stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o077 and _writable(d):
            return d
        return Path(tempfile.mkdtemp(prefix="peaktrade-numba-"))
    except OSError:
        return None


def _use(d: Path) -> str:
    os.environ["NUMBA_CACHE_DIR"] = str(d)
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:  # numba already read the environment: tell it directly
        numba_config.CACHE_DIR = str(d)
    return str(d)


def ensure_cache_dir() -> str | None:
    """Return the cache dir chosen (None when numba's default next to the sources is used)."""
    user = os.environ.get("NUMBA_CACHE_DIR")
    if user and _writable(Path(user)):
        return user
    pkg = Path(__file__).resolve().parent
    if not user and _writable(pkg / "__pycache__"):
        return None
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "peaktrade" / "numba"
    if _writable(xdg):
        return _use(xdg)
    tmp = _private_tmp()
    return _use(tmp) if tmp is not None else None


ensure_cache_dir()
