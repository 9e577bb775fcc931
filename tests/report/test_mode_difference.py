"""The modes section's tests over windows beside each other: whether a series differs between a salon run and an
isolated run of the same roster (found where a difference is planted, not where none is, at the test's level over
many seeds), exact on a case small enough to count, and a plain "no verdict possible" where the windows are too
few for any data to be found."""

from __future__ import annotations

import pytest

from services.report.modes import LABELS, figures, markdown, run_figures
from services.report.window_tests import difference
from tests.report.salon_runs import play
from tests.report.test_modes import facts_of

FIVE_MINUTES = 300.0


def two_runs(salon, isolated, *, permutations: int = 500, seed: int = 0, window: float = FIVE_MINUTES) -> dict:
    runs = [run_figures(label, facts_of(events, window), mode, "given", permutations=permutations, seed=seed)
            for label, events, mode in (("s", salon, "salon"), ("i", isolated, "isolated"))]
    return figures(runs, permutations=permutations, seed=seed)


def test_a_difference_of_means_is_tested_against_every_split_of_the_windows():
    t = difference("x", [1.0, None, 2.0], [3.0, 4.0], permutations=100, seed=0)  # C(4, 2) = 6 splits, all tried
    assert t.n == 4 and t.effect == pytest.approx(-2.0) and t.p == pytest.approx(2 / 6) and t.floor == 1 / 6
    assert difference("x", [1.0], [3.0, 4.0], permutations=100, seed=0).why.startswith("1 and 2 windows")


def test_a_planted_difference_between_the_modes_is_found():
    for seed in range(3):
        f = two_runs(play(seed, collapse=True, minutes=60), play(seed + 100, roster=seed, salon=False, minutes=60))
        found = {t["name"]: t for t in f["differences"]}
        for name in ("title_word_entropy", "colour_js"):
            assert found[name]["found"], found[name]
        # the salon's agents became alike: less varied words, colours less divergent
        assert found["title_word_entropy"]["effect"] < 0 and found["colour_js"]["effect"] < 0
        assert found["colour_js"]["n"] == 24  # 12 five-minute windows in each run


def test_no_difference_is_found_between_runs_of_one_roster_in_at_least_95_of_100_seeds():
    hits = 0
    for seed in range(100):
        f = two_runs(play(seed), play(seed + 1000, roster=seed, salon=False), permutations=300, seed=seed)
        hits += any(t["found"] for t in f["differences"])
    assert hits <= 5, hits


def test_too_few_windows_for_any_verdict_are_said_plainly():
    # 30 minutes in 6-minute windows: 5 windows, 120 orderings, no p under 2/120, and Holm over 7 series needs
    # one under 0.05/7
    f = two_runs(play(3), play(3, salon=False), window=360.0, permutations=2000)
    trends = f["runs"][0]["trends"]
    assert len(trends) == len(LABELS) and all(not t["found"] and t["why"].startswith("no verdict possible: 5 "
                                                                                     "windows") for t in trends)
    text = "\n".join(markdown(f))
    assert "no verdict possible: 5 windows give no p under 0.0167, and Holm over 7 series needs one under " \
           "0.00714" in text
    assert "Difference between the modes: s (salon) minus i (isolated)" in text
