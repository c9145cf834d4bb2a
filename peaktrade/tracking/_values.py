"""Turn Python values into what MLflow accepts: clean keys, bounded param strings, finite metrics,
and text with every configured secret masked."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from peaktrade.config import Config

MAX_KEY = 250
MAX_PARAM = 6000
MAX_TAG = 8000
MASK = "***"
KEY_MASK = "REDACTED"


def clean_key(key: Any) -> str:
    """Return ``key`` with characters MLflow rejects replaced by ``_`` (and bounded in length)."""
    s = re.sub(r"[^\w.\- ]", "_", str(key)).strip()
    if not s or set(s) <= {"."}:
        s = "_" + s
    return s[:MAX_KEY]


def param_text(value: Any) -> str:
    """Return a param value as text: numbers plainly, containers as JSON, bounded length."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        text = "None"
    elif isinstance(value, (list, tuple, dict, set)):
        try:
            text = json.dumps(list(value) if isinstance(value, (tuple, set)) else value, default=str)
        except (TypeError, ValueError):
            text = str(value)
    else:
        text = str(value)
    return text if len(text) <= MAX_PARAM else text[: MAX_PARAM - 1] + "…"


def grid_text(values: Iterable[Any]) -> str:
    """Return a grid as compact text: the single value, or the values (abbreviated when many)."""
    vals = [v.item() if isinstance(v, np.generic) else v for v in values]
    if len(vals) == 1:
        return param_text(vals[0])
    if len(vals) <= 12:
        return param_text(vals)
    head = ", ".join(str(v) for v in vals[:3])
    tail = ", ".join(str(v) for v in vals[-2:])
    return f"[{head}, ..., {tail}] ({len(vals)} values)"


def split_metrics(values: Mapping[str, Any] | Any, *, prefix: str = "") -> tuple[dict[str, float], dict[str, str]]:
    """Split values into finite float metrics and the non-finite or non-numeric rest.

    Returns
    -------
    (metrics, dropped)
        ``metrics`` maps clean keys to finite floats; ``dropped`` maps the keys left out to
        ``"nan"``, ``"inf"``, ``"-inf"`` or ``"non-numeric"``, so the run can record them.
    """
    items = values.items() if hasattr(values, "items") else dict(values).items()
    metrics: dict[str, float] = {}
    dropped: dict[str, str] = {}
    for k, v in items:
        key = clean_key(f"{prefix}{k}")
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, bool):
            v = float(v)
        if not isinstance(v, (int, float)):
            dropped[key] = "non-numeric"
            continue
        f = float(v)
        if math.isfinite(f):
            metrics[key] = f
        else:
            dropped[key] = "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")
    return metrics, dropped


class Redactor:
    """Mask every secret value in text before it reaches the tracking store.

    The secrets are those of the config, and (in case the config was loaded before they were set)
    the secret variables of the current environment and of the project's ``.env``.
    """

    def __init__(self, config: Config) -> None:
        from peaktrade.config import SECRET_VARS, _read_dotenv

        found: list[str | None] = []
        for _, value in getattr(config, "secrets", None) or []:
            found.append(value.get_secret_value() if value is not None else None)
        found += [os.environ.get(var) for var in SECRET_VARS]
        root = getattr(config, "root", None)
        if root is not None:
            try:
                dotenv = _read_dotenv(Path(root) / ".env")
            except OSError:
                dotenv = {}
            found += [dotenv.get(var) for var in SECRET_VARS]
        self._secrets = sorted({s for s in found if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str, *, mask: str = MASK) -> str:
        """Return ``text`` with each secret value replaced by ``mask``."""
        for s in self._secrets:
            if s in text:
                text = text.replace(s, mask)
        return text

    def key(self, key: str) -> str:
        """Return a param, metric or tag name redacted with a mask MLflow accepts in names."""
        return self(key, mask=KEY_MASK)
