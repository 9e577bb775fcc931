"""Budgets over sliding windows, on a fake clock."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.agent.budget import Budget


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_unlimited_never_rests():
    clock = Clock()
    budget = Budget(None, None, clock)
    for _ in range(1000):
        budget.charge(10_000)
    assert budget.resting_until() is None
    assert budget.state() == {"resting": False, "until": None, "reason": None,
                              "tokens_last_hour": 10_000_000, "decisions_last_minute": 1000}


def test_decisions_per_minute_rest_and_recover():
    clock = Clock(0.0)
    budget = Budget(None, 3, clock)
    for t in (0, 10, 20):
        clock.now = t
        assert budget.resting_until() is None
        budget.charge(5)
    assert budget.state() == {"resting": True, "until": 60.0, "reason": "decisions_per_minute",
                              "tokens_last_hour": 15, "decisions_last_minute": 3}
    clock.now = 59.999
    assert budget.resting_until() == 60.0
    clock.now = 60.0  # the first decision has left the window: it goes on by itself
    assert budget.resting_until() is None
    assert budget.state()["decisions_last_minute"] == 2
    budget.charge(5)
    assert budget.resting_until() == 70.0


def test_tokens_per_hour_wait_until_enough_has_expired():
    clock = Clock(0.0)
    budget = Budget(1000, None, clock)
    for t, tokens in ((0, 400), (100, 400), (200, 300)):
        clock.now = t
        budget.charge(tokens)
    # 1100 spent; the first 400 expiring brings it to 700, under the limit
    assert budget.state()["until"] == 3600.0 and budget.state()["reason"] == "tokens_per_hour"
    clock.now = 3600.0
    assert budget.state() == {"resting": False, "until": None, "reason": None,
                              "tokens_last_hour": 700, "decisions_last_minute": 0}


def test_reaching_the_limit_exactly_counts_as_spent_and_one_big_decision_rests_an_hour():
    clock = Clock(0.0)
    budget = Budget(100, None, clock)
    budget.charge(100)
    assert budget.resting_until() == 3600.0
    budget = Budget(100, None, clock)
    budget.charge(5000)
    assert budget.resting_until() == 3600.0


def test_the_later_limit_is_the_reason():
    clock = Clock(0.0)
    budget = Budget(100, 1, clock)
    budget.charge(150)
    assert budget.state()["until"] == 3600.0 and budget.state()["reason"] == "tokens_per_hour"
    clock.now = 3600.0
    budget.charge(1)
    assert budget.state()["reason"] == "decisions_per_minute" and budget.state()["until"] == 3660.0


def test_tokens_and_decisions_can_be_charged_apart():
    clock = Clock(0.0)
    budget = Budget(100, 2, clock)
    budget.charge(60, decisions=0)  # a dream: tokens, no decision
    budget.charge(0, decisions=1)
    assert budget.state()["tokens_last_hour"] == 60 and budget.state()["decisions_last_minute"] == 1
    assert len(budget.tokens) == len(budget.decisions) == 1
    budget.charge(50, decisions=0)
    assert budget.state()["reason"] == "tokens_per_hour"


def test_limits_must_be_positive():
    with pytest.raises(ValueError):
        Budget(0, None)
    with pytest.raises(ValueError):
        Budget(None, -1)


@given(gaps=st.lists(st.floats(0, 30), min_size=1, max_size=200),
       tokens=st.lists(st.integers(1, 400), min_size=200), per_minute=st.integers(1, 6),
       per_hour=st.integers(400, 3000))
def test_an_agent_that_obeys_never_exceeds_a_limit(gaps, tokens, per_minute, per_hour):
    """An agent that decides only when not resting, and otherwise sleeps until told, stays within both
    limits (up to one decision's overshoot of tokens, since tokens are known only after deciding)."""
    clock = Clock(0.0)
    budget = Budget(per_hour, per_minute, clock)
    spent = []
    for gap, cost in zip(gaps, tokens):
        clock.now += gap
        until = budget.resting_until()
        if until is not None:
            assert until > clock.now
            clock.now = until
            assert budget.resting_until() is None  # it resumes by itself at the time it was given
        budget.charge(cost)
        spent.append((clock.now, cost))
        in_minute = [c for t, c in spent if t + 60 > clock.now]
        in_hour = [c for t, c in spent if t + 3600 > clock.now]
        assert len(in_minute) <= per_minute
        assert sum(in_hour) - in_hour[-1] < per_hour


def test_to_dict_round_trip_is_small_and_never_shortens_a_rest():
    clock = Clock(0.0)
    budget = Budget(4000, 10, clock)
    for i in range(600):  # one decision every 5 s for 50 minutes: both limits spent
        clock.now = i * 5.0
        budget.charge(8)
    saved = json.loads(json.dumps(budget.to_dict()))
    assert len(saved["tokens"]) <= 61 and len(saved["decisions"]) <= 60
    restored = Budget.from_dict(saved, 4000, 10, clock)
    assert restored.state()["tokens_last_hour"] == budget.state()["tokens_last_hour"]
    assert restored.state()["decisions_last_minute"] == budget.state()["decisions_last_minute"]
    assert budget.state()["reason"] == "tokens_per_hour"
    for now in range(2995, 6700, 7):
        clock.now = float(now)
        original, after = budget.resting_until(), restored.resting_until()
        if original is not None:
            assert after is not None and original <= after <= original + 60
    assert Budget.from_dict(None, 10, 10, clock).state()["resting"] is False
