"""LLM answer noise: where each table cell came from, degenerate cells, bootstrap intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spillover.events import Event
from spillover.llm import FakeBackend, LLMRequest
from spillover.policies import (
    ANSWER_FROM_LOGPROBS,
    ANSWER_FROM_UNKNOWN,
    ExposureBatch,
    LLMPolicy,
    TabulatedPolicy,
)


def offline_means_no(request: LLMRequest) -> float:
    """A fake model: never shares news met offline, shares with probability 0.4 otherwise."""
    return 0.0 if "outside the platform" in request.messages[-1][1] else 0.4


def test_cell_provenance_round_trips_through_llm_table_json(tmp_path: Path, event: Event) -> None:
    class Mixed(FakeBackend):
        # Log-probabilities for the feed prompts only: the offline cells are sampled.
        def answer(self, request: LLMRequest) -> object:  # type: ignore[override]
            r = super().answer(request)
            if "outside the platform" in request.messages[-1][1]:
                return r.__class__(**{**r.__dict__, "probability": None})
            return r

    policy = LLMPolicy(Mixed(offline_means_no), model="m", samples=7, offline_reach=0.2)
    policy.share_probability(ExposureBatch(np.array([1, 2]), np.array([0, 2])), event)
    table = policy.table(event)
    n = table.samples_of(event.event_id)
    assert n[1, 0] == 7  # sampled: 7 answers, all "no"
    assert table.probabilities[event.event_id][1, 0] == 0.0
    assert n[2, 2] == ANSWER_FROM_LOGPROBS
    assert n[2, 0] == 7 and n[0, 0] == ANSWER_FROM_UNKNOWN  # persona 0 not asked
    path = table.save(tmp_path / "llm_table.json")
    doc = json.loads(path.read_text())
    cells = doc["answers_from"][event.event_id]
    assert cells["source"][1][0] == "samples" and cells["n"][1][0] == 7
    assert cells["source"][2][2] == "logprobs" and cells["n"][2][2] is None
    assert cells["source"][0][0] is None and cells["n"][0][0] is None
    again = TabulatedPolicy.load(path)
    np.testing.assert_array_equal(again.samples_of(event.event_id), n)
    assert again.with_reach(0.5).samples_of(event.event_id)[1, 0] == 7


def test_tables_without_provenance_read_as_unknown(tmp_path: Path, event: Event) -> None:
    policy = LLMPolicy(FakeBackend(offline_means_no), model="m")
    policy.share_probability(ExposureBatch(np.array([0]), np.array([1])), event)
    doc = policy.table(event).to_document()
    del doc["answers_from"]  # a table written before the field existed
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    old = TabulatedPolicy.load(path)
    assert old.answer_samples is None
    assert (old.samples_of(event.event_id) == ANSWER_FROM_UNKNOWN).all()
    doc["answers_from"] = {event.event_id: {"source": [["guess"] * 6] * 32, "n": [[1] * 6] * 32}}
    path.write_text(json.dumps(doc))
    with pytest.raises(Exception, match="source must be 'logprobs', 'samples' or null"):
        TabulatedPolicy.load(path)
