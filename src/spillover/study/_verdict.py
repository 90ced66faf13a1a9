"""The verdict on "two transmission rates" for one analysis, when the selection layer gives one.

The readings (DESIGN section 2) are ``offline-online`` (si2), ``two-groups`` (si-groups2),
``exposure`` (si-dose2) or ``none``. The study asks :mod:`spillover.selection` for the verdict
of each fitted group of cells and never invents one: where selection has no verdict to give,
this returns None and the study shows the best model instead.
"""

from __future__ import annotations

from typing import Any

__all__ = ["two_rates_verdict"]


def two_rates_verdict(analysis: Any) -> dict[str, Any] | None:
    """``{"reading": ..., "evidence": [...]}`` for an :class:`~spillover.selection.Analysis`,
    or None when this version of :mod:`spillover.selection` gives no verdict."""
    verdict = getattr(analysis, "two_rates", None)
    if verdict is None:
        return None
    if callable(verdict):
        verdict = verdict()
    if hasattr(verdict, "to_dict"):
        verdict = verdict.to_dict()
    if not isinstance(verdict, dict) or "reading" not in verdict:
        return None
    return {"reading": str(verdict["reading"]), "evidence": list(verdict.get("evidence", []))}
