"""Closing the loop: online engagement that spills into offline participation and events.

The coupled model (docs/loop.md): agents are unaware, engaged online, participating offline,
faded or left; engaged agents spread the news online (``beta``) and join offline at the
online-to-offline rate ``eta`` (and ``kappa`` per participating neighbour), engagement fades
(``gamma``), participants leave (``delta``). :func:`simulate_coupled` runs it on a graph with
the engine's keyed uniforms; ``loop-mf`` and ``loop-pair`` are its mean-field and pair-closure
maps and ODEs; :func:`run_loop` chains cascades through the offline events they emit;
:func:`critical_range` and :func:`fit_coupling` are the analysis.
"""

from spillover.loop._analysis import (
    CriticalRange,
    critical_eta,
    critical_range,
    loop_reproductive_number,
    online_reproductive_number,
)
from spillover.loop._chain import Cascade, EmittedEvent, LoopResult, LoopSettings, run_loop
from spillover.loop._config import (
    LOOP_KEYS,
    build_loop,
    check_loop_fits,
    check_loop_value,
    estimate_loop_bytes,
    loop_root_event,
    run_loop_values,
)
from spillover.loop._emission import EMISSION_MODES, FICTIONAL_PLACES, EmissionRule
from spillover.loop._fit import (
    CouplingFit,
    RateEstimate,
    coupled_fit_document,
    coupled_model_names,
    fit_coupling,
)
from spillover.loop._kernel import FLOW_NAMES, STATE_NAMES
from spillover.loop._simulate import CoupledRates, CoupledResult, simulate_coupled
from spillover.loop._sweep import OutbreakSweep, outbreak_sweep
from spillover.loop._tables import (
    OFFLINE_COLUMNS,
    cascade_columns,
    engagement_columns,
    event_columns,
    joins_columns,
    offline_columns,
)

__all__ = [
    "EMISSION_MODES",
    "FICTIONAL_PLACES",
    "FLOW_NAMES",
    "LOOP_KEYS",
    "OFFLINE_COLUMNS",
    "STATE_NAMES",
    "Cascade",
    "CoupledRates",
    "CoupledResult",
    "CouplingFit",
    "CriticalRange",
    "EmissionRule",
    "EmittedEvent",
    "LoopResult",
    "LoopSettings",
    "OutbreakSweep",
    "RateEstimate",
    "build_loop",
    "cascade_columns",
    "check_loop_fits",
    "check_loop_value",
    "coupled_fit_document",
    "coupled_model_names",
    "critical_eta",
    "critical_range",
    "engagement_columns",
    "estimate_loop_bytes",
    "event_columns",
    "fit_coupling",
    "joins_columns",
    "loop_reproductive_number",
    "loop_root_event",
    "offline_columns",
    "online_reproductive_number",
    "outbreak_sweep",
    "run_loop",
    "run_loop_values",
    "simulate_coupled",
]
