"""The simulator's credentials: never the live ones, never on a command line, never printed.

A testnet session in ``kraken-sim`` mode and the simulator both read the same variables,
``PEAKTRADE_SIM_API_KEY`` and ``PEAKTRADE_SIM_API_SECRET``; when unset, both use the documented
defaults below (the simulator is not Kraken: a fixed local pair is fine, and a request signed with it
is worthless at Kraken). ``KRAKEN_API_*`` is never read here: a listener at a simulator URL must never
receive a request signed with the live secret (it could replay it at Kraken).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

SIM_KEY_VAR = "PEAKTRADE_SIM_API_KEY"
SIM_SECRET_VAR = "PEAKTRADE_SIM_API_SECRET"
#: Documented defaults (docs/simulator.md, docs/testnet.md): used on both sides when the variables are unset.
DEFAULT_SIM_API_KEY = "peaktrade-sim-key"
DEFAULT_SIM_API_SECRET = "cGVha3RyYWRlLXNpbXVsYXRvci1zZWNyZXQtMDEyMzQ1Njc="


def sim_credentials(env: Mapping[str, str] | None = None, *, secret_file: str | os.PathLike[str] | None = None,
                    ) -> tuple[str, str]:
    """Return ``(key, secret)`` of the simulator: ``secret_file`` (first line), else the environment, else defaults.

    Raises
    ------
    ValueError
        When ``secret_file`` cannot be read or is empty (the message names the file, never its content).
    """
    env = os.environ if env is None else env
    key = env.get(SIM_KEY_VAR) or DEFAULT_SIM_API_KEY
    if secret_file is not None:
        p = Path(secret_file).expanduser()
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"--api-secret-file {str(p)!r} cannot be read ({type(e).__name__}): expected a "
                             "file holding the base64 secret on its first line") from None
        secret = lines[0].strip() if lines else ""
        if not secret:
            raise ValueError(f"--api-secret-file {str(p)!r} is empty: expected the base64 secret on its first line")
        return key, secret
    return key, env.get(SIM_SECRET_VAR) or DEFAULT_SIM_API_SECRET


def key_label(key: str) -> str:
    """Return a printable stand-in for an API key (a short hash): state dumps and logs never show the key."""
    return "key-" + hashlib.sha256(str(key).encode()).hexdigest()[:8]


__all__ = ["DEFAULT_SIM_API_KEY", "DEFAULT_SIM_API_SECRET", "SIM_KEY_VAR", "SIM_SECRET_VAR", "key_label",
           "sim_credentials"]
