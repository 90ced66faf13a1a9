"""The options ``spillover fit`` and ``spillover report`` share: held-out folds and the LLM
answers' noise (``--folds``, ``--llm-noise``), with their checks and progress line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from spillover.cli._console import err_console

__all__ = ["FoldsOption", "check_fit_options", "llm_noise_option", "llm_noise_tables"]

FoldsOption = Annotated[
    int, typer.Option("--folds", help="Folds of replicates for held-out scores (0: skip).")
]


def llm_noise_option(into: str) -> Any:
    """The ``--llm-noise B`` option; ``into`` says where the answers' noise goes."""
    return typer.Option(
        "--llm-noise",
        metavar="B",
        help="LLM runs with sampled answers: bootstrap tables whose re-simulated runs put "
        f"the noise of the answers into {into} (0: off). \\[default: 40]",
    )


def check_fit_options(folds: int, llm_noise: int | None) -> None:
    """Refuse a negative ``--folds``, and an ``--llm-noise`` below 0 or above
    :data:`spillover.pipeline.MAX_NOISE_TABLES`, before any work."""
    from spillover.exceptions import ConfigError

    if folds < 0:
        raise ConfigError(f"--folds must be >= 0; got {folds}")
    if llm_noise is not None and llm_noise < 0:
        raise ConfigError(f"--llm-noise must be an integer >= 0 (0: off); got {llm_noise}")
    if llm_noise is not None:
        from spillover._resources import check_count
        from spillover.pipeline import MAX_NOISE_TABLES

        what = "bootstrap tables (each a re-simulated run)"
        check_count(what, "--llm-noise", llm_noise, MAX_NOISE_TABLES)


def llm_noise_tables(
    llm_noise: int | None, *, quiet: bool = False
) -> tuple[int, Callable[[int, int], None]]:
    """The number of bootstrap tables (``--llm-noise``, or the default) and a progress
    callback that prints the first and the last refit (nothing when ``quiet``)."""
    from spillover.selection import DEFAULT_LLM_NOISE_TABLES

    def tick(done: int, total: int) -> None:
        if not quiet and done in (1, total):
            err_console.print(f"LLM answer noise: refitted {done} of {total} bootstrap tables")

    return (DEFAULT_LLM_NOISE_TABLES if llm_noise is None else llm_noise), tick
