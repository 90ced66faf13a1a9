"""The per-agent state's layouts (int16, int32, int64) give identical runs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import spillover.engine._simulate as simulate_module
from spillover.engine import simulate
from spillover.engine._kernels import state_layout
from spillover.graphs import Graph, random_regular
from spillover.policies import ConstantPolicy, ExposureBatch, default_persona_policy

_LAYOUTS = {"int16": (np.int16, 10), "int32": (np.int32, 26), "int64": (np.int64, 57)}


def test_the_narrowest_layout_that_holds_the_degree_is_chosen() -> None:
    assert state_layout(8) == (np.int16, 10)
    assert state_layout(2**10 - 1) == (np.int16, 10)
    assert state_layout(2**10) == (np.int32, 26)
    assert state_layout(2**26 - 1) == (np.int32, 26)
    assert state_layout(2**26) == (np.int64, 57)


def _hub_graph() -> Graph:
    """A 3-regular graph of 1,500 nodes plus a hub tied to all of them (degree 1,500)."""
    base = random_regular(1500, 3, rng=3)
    rows = np.repeat(np.arange(base.n_nodes), np.diff(base.indptr))
    edges = np.column_stack([rows, base.indices])
    edges = edges[edges[:, 0] < edges[:, 1]]
    hub = np.column_stack([np.full(base.n_nodes, base.n_nodes), np.arange(base.n_nodes)])
    return Graph.from_edges(base.n_nodes + 1, np.vstack([edges, hub]))


class _FewNeighboursPolicy:
    """Agents share only with 1-3 informed neighbours (so the hub's count keeps growing)."""

    def share_probability(self, batch: ExposureBatch, event: object) -> np.ndarray:
        m = batch.n_exposed
        return np.where((m >= 1) & (m <= 3), 0.1 + 0.01 * batch.persona, 0.0)

    def describe(self) -> dict[str, object]:
        return {"kind": "few-neighbours"}


def _tables(result: object) -> list[np.ndarray]:
    out = []
    for name in ("exposures", "adoptions"):
        table = getattr(result, name)
        out += [np.asarray(col) for col in dataclasses.astuple(table)]
    out.append(np.asarray(result.curves.informed))  # type: ignore[attr-defined]
    return out


@pytest.mark.parametrize(
    ("graph", "policy"),
    [
        (random_regular(3000, 8, rng=5), ConstantPolicy(0.0, 0.2)),
        (random_regular(3000, 8, rng=5), default_persona_policy()),
        (_hub_graph(), ConstantPolicy(0.01, 0.05)),
        (_hub_graph(), _FewNeighboursPolicy()),
    ],
    ids=["regular-online", "regular-personas", "hub-offline", "hub-never-shares"],
)
def test_every_layout_gives_the_same_run(
    graph: Graph, policy: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    kmax = int(np.diff(graph.indptr).max())
    runs = {}
    for name, layout in _LAYOUTS.items():
        if layout[1] <= int(kmax).bit_length() - 1:
            continue  # the layout cannot hold this degree
        monkeypatch.setattr(simulate_module, "state_layout", lambda _k, lay=layout: lay)
        runs[name] = _tables(
            simulate(graph, policy, n_rounds=40, n_reps=3, n_seeds=4, rng=11)  # type: ignore[arg-type]
        )
    assert len(runs) >= 2
    if isinstance(policy, _FewNeighboursPolicy):  # the hub's count passes the int16 range
        exposures = simulate(graph, policy, n_rounds=40, n_seeds=4, rng=11).exposures
        assert exposures.n_exposed.max() >= 2**10
    reference = runs.pop("int64")
    for tables in runs.values():
        assert len(tables) == len(reference)
        for got, want in zip(tables, reference, strict=True):
            np.testing.assert_array_equal(got, want)
