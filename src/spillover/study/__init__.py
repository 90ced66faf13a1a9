"""Studies: the paper's experiment (events x degrees x replicates, one policy) in one file.

A study file names the events (ids, or so many per ACLED event type), the degrees, the size of
each run, the policy and the analysis. :func:`read_study` validates it; :func:`run_study` runs
it as a sweep (:mod:`spillover.sweeps`: same executors, resume, LLM cache and seeding) and
writes the pooled analysis to ``study.json`` and ``tables/*.parquet``;
:func:`spillover.report.build_study_report` writes ``study.html``. See ``docs/study.md``.
"""

from spillover.study._analysis import (
    analyse_cells,
    effects_summary,
    mean_field_errors,
    rates_by_event_type,
)
from spillover.study._plan import plan_study
from spillover.study._pool import StudyCell, load_cells, pool_agents, pool_exposures
from spillover.study._run import STUDY_JSON, StudySummary, analyse_study, run_study
from spillover.study._spec import POLICY_KINDS, StudySpec, StudySweepSpec, read_study
from spillover.study._verdict import two_rates_verdict

__all__ = [
    "POLICY_KINDS",
    "STUDY_JSON",
    "StudyCell",
    "StudySpec",
    "StudySummary",
    "StudySweepSpec",
    "analyse_cells",
    "analyse_study",
    "effects_summary",
    "load_cells",
    "mean_field_errors",
    "plan_study",
    "pool_agents",
    "pool_exposures",
    "rates_by_event_type",
    "read_study",
    "run_study",
    "two_rates_verdict",
]
