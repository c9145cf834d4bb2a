"""Run ids given by a unique prefix: the one rule of every command that takes a run id.

MLflow run ids (32 hex digits) and session run ids (``20261129-210300-paper-ma_crossover-a1b2c3``) are long;
a user types the first characters. Any prefix of at least :data:`MIN_PREFIX` characters that matches exactly
one id is that id; a shorter one, or one matching several, is refused naming what was wrong.
"""

from __future__ import annotations

from collections.abc import Iterable

from peaktrade.errors import PeakTradeError

#: The shortest run-id prefix accepted (the whole id is accepted at any length).
MIN_PREFIX = 6
#: Matches listed in an ambiguity error.
_SHOWN = 5


def resolve_prefix(ref: str, ids: Iterable[str], *, what: str = "run", where: str = "",
                   error: type[PeakTradeError] = PeakTradeError) -> str:
    """Return the id of ``ids`` that is ``ref``, or the only one that starts with ``ref``.

    Parameters
    ----------
    what
        What the ids are, for the messages (``"run"``, ``"MLflow run"``).
    where
        Where they were looked up, for the messages (``" in runs/"``).
    error
        The exception raised (a :class:`~peaktrade.errors.PeakTradeError`).

    Raises
    ------
    PeakTradeError
        ``ref`` is shorter than :data:`MIN_PREFIX` and not a whole id, matches none, or matches several.
    """
    ref = (ref or "").strip()
    known = set(ids)
    if ref in known:
        return ref
    if len(ref) < MIN_PREFIX:
        raise error(f"{what} id {ref!r} is too short: expected the whole id or a unique prefix of at least "
                    f"{MIN_PREFIX} characters")
    matches = sorted(i for i in known if i.startswith(ref))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise error(f"no {what} {ref!r}{where}")
    shown = ", ".join(matches[:_SHOWN]) + (f" and {len(matches) - _SHOWN} more" if len(matches) > _SHOWN else "")
    raise error(f"{what} id prefix {ref!r} is ambiguous{where}: it matches {shown} (give more characters)")
