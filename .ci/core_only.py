"""The core without extras: simulate, fit and write a run with the core dependencies only.

Run by tests/test_extras.py with the optional packages hidden, and by .ci/run in an
environment built without extras (`uv sync --frozen --no-dev`, no --extra).
"""

import spillover as so
from spillover.config import SimulationConfig
from spillover.io import read_fit_input, write_run_dir
from spillover.pipeline import run_simulation

graph = so.random_regular(600, 6, rng=1)
event = so.io.example_events()[0]
result = so.simulate(
    graph, so.default_persona_policy(), event=event, n_rounds=15, n_reps=3, n_seeds=3, rng=1
)
fits = so.fit_exposures(result.exposures, ("si", "si2"))
assert fits[1].status == "converged", fits[1]
estimator = so.SI2Estimator().fit(result.exposures)
assert 0.0 < estimator.result_.params["beta"] < 1.0

run = run_simulation(SimulationConfig(n_nodes=400, degree=4, n_rounds=10, n_reps=2, seed=3))
path = write_run_dir(run, "core-run")
data = read_fit_input(path)
assert data.exposures is not None and data.curves is not None
print("core ok", fits[1].params)
