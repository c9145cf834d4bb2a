"""Choose a writable numba cache directory before any ``cache=True`` kernel is compiled.

numba writes its cache next to the sources (``__pycache__``). Where that is read-only (a system-wide
install) numba would fall back or fail, and some setups hang (vectorbt #816). If the user set
``NUMBA_CACHE_DIR`` we keep it; otherwise, when the package directory is not writable, we use
``$XDG_CACHE_HOME/peaktrade/numba`` (or a temp directory as a last resort).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _writable(d: Path) -> bool:
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=d):
            return True
    except OSError:
        return False


def ensure_cache_dir() -> str | None:
    """Return the cache dir chosen (or None when numba's default next to the sources is fine)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    pkg = Path(__file__).resolve().parent
    if _writable(pkg / "__pycache__"):
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "peaktrade" / "numba"
    for cand in (base, Path(tempfile.gettempdir()) / f"peaktrade-numba-{os.getuid()}"):
        if _writable(cand):
            os.environ["NUMBA_CACHE_DIR"] = str(cand)
            return str(cand)
    return None


ensure_cache_dir()
