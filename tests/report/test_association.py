"""The colour-and-sound tests on notes made here: they find a planted association, find none in independent
notes (at the rate a 5% family-wise error allows), and their parts compute what they should."""

from __future__ import annotations

import random

from collections import Counter

import numpy as np
import pytest
from scipy import stats

from proto.ops.table import COLOURS
from services.report.association import (ALPHA, BRIGHTNESS, BY_BRIGHTNESS, MIN_NOTES, Association, _Null,
                                         colour_sound, holm, mutual_information)
from services.report.study import Note


def notes(n: int, seed: int, *, pitch=None, velocity=None, palette=tuple(COLOURS)) -> list[Note]:
    """n notes with random colours from `palette`; pitch(colour, rng) and velocity(colour, rng), or independent
    draws."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        colour = rng.choice(palette)
        midi = pitch(colour, rng) if pitch else rng.randint(36, 96)
        vel = velocity(colour, rng) if velocity else rng.randint(1, 127)
        out.append(Note(0.0, midi, vel, colour, 1.0))
    return out


def by_name(result) -> dict[str, Association]:
    return {t.name: t for t in result.tests}


def test_brightness_orders_the_palette_from_black_to_white():
    assert BY_BRIGHTNESS[0] == "black" and BY_BRIGHTNESS[-1] == "white"
    assert BRIGHTNESS["yellow"] > BRIGHTNESS["red"] > BRIGHTNESS["navy"]


def test_bright_goes_with_high_is_found_with_its_direction():
    planted = notes(200, 1, pitch=lambda c, rng: 40 + int(BRIGHTNESS[c] * 40) + rng.randint(0, 6))
    tests = by_name(colour_sound([planted], permutations=500))
    assert tests["brightness ~ pitch"].found and tests["brightness ~ pitch"].effect > 0.7
    assert tests["colour ~ pitch"].found
    assert tests["colour ~ pitch"].effect > 3 * tests["colour ~ pitch"].chance


def test_red_loud_blue_quiet_is_found_by_mutual_information():
    loud = {"red": 120, "blue": 10}
    planted = notes(300, 2, velocity=lambda c, rng: loud.get(c, rng.randint(40, 90)))
    tests = by_name(colour_sound([planted], permutations=500))
    assert tests["colour ~ velocity"].found


def test_independent_notes_are_found_associated_at_most_at_the_error_rate():
    runs = 40
    false = sum(any(t.found for t in colour_sound([notes(150, seed)], permutations=200, seed=seed).tests)
                for seed in range(runs))
    assert false <= 6, f"{false} of {runs} independent logs were found associated (5% expected)"


RUNS = 200  # independent logs per size
# The most false findings among RUNS logs that a 5% rate allows: the one-sided 99% upper bound of
# Binomial(RUNS, 5%), exactly (P(X > 18) = 0.6% and P(X > 17) = 1.2% for 200 logs): 18 of 200, 9% (5% + 4 points).
# A test whose family-wise error rate is at most 5% fails this check by chance less than 1% of the time.
MOST_FALSE = int(stats.binom.ppf(0.99, RUNS, ALPHA))


@pytest.mark.parametrize("agents, permutations", [
    # One agent of n <= 999 notes: every rotation is tried (exact), as with the default of 2,000 permutations,
    # so 999 gives the same p-values the report would.
    (1, 999),
    # Two agents of n/2 notes each: (n/2)^2 joint rotations, more than 199 at 40 and 100 notes, so these draw
    # 199 of them. Fewer draws make p-values coarser (steps of 1/200), never smaller than valid: (1 + b)/(1 + m)
    # is a valid p-value for any m, so the false-positive rate checked here is the one of any m; only power falls.
    (2, 199),
])
@pytest.mark.parametrize("n", [20, 40, 100])
def test_random_notes_are_found_associated_at_most_at_5_percent_at_every_size(n, agents, permutations):
    """Colours among four and notes drawn independently: the share of models found associated (any test), and
    for each test alone the share with an unadjusted p <= 5%. The second can fail at every size: with one agent
    of 20 or 40 notes no Holm-adjusted finding is possible (p >= 1/n), but a p-value that is too small is seen."""
    false = 0
    small = Counter()
    for run in range(RUNS):
        data = notes(n, 10_000 * n + run, palette=("black", "white", "red", "blue"))
        result = colour_sound([data[a::agents] for a in range(agents)], permutations=permutations, seed=run)
        false += any(t.found for t in result.tests)
        small.update(t.name for t in result.tests if t.p is not None and t.p <= ALPHA)
    assert false <= MOST_FALSE, f"{false} of {RUNS} independent logs of {n} notes were found associated"
    assert max(small.values(), default=0) <= MOST_FALSE, f"unadjusted p <= 5% in {dict(small)} of {RUNS} logs"


def test_with_fewer_notes_than_permutations_the_null_is_every_rotation_once_identity_included():
    null = _Null([7], 100, seed=0)
    rows = np.concatenate(list(null._batches()))
    assert null.exact and len(rows) == 7
    assert sorted(map(tuple, rows.tolist())) == sorted(tuple(((np.arange(7) + s) % 7).tolist()) for s in range(7))


def test_two_agents_are_rotated_independently_every_pair_of_shifts_once_across_batches(monkeypatch):
    monkeypatch.setattr(_Null, "BATCH", 7 * 5)  # five rotations per batch: the 12 span three batches
    null = _Null([3, 0, 4], 12, seed=0)  # an agent with no notes adds nothing
    rows = np.concatenate(list(null._batches()))
    assert null.exact and len(rows) == 12
    shifts = {(int(r[0]), int(r[3] - 3)) for r in rows}  # each agent's shift: where its first note comes from
    assert shifts == {(a, b) for a in range(3) for b in range(4)}
    for r in rows:  # each agent's block is a rotation of its own notes
        assert sorted(r[:3].tolist()) == [0, 1, 2] and sorted(r[3:].tolist()) == [3, 4, 5, 6]


def test_with_more_rotations_than_permutations_shifts_are_drawn_from_all_of_them_identity_included():
    null = _Null([3, 1000], 500, seed=0)
    rows = np.concatenate(list(null._batches()))
    assert not null.exact and len(rows) == 500
    assert {int(s) for s in rows[:, 0]} == {0, 1, 2}  # shift 0 of the first agent among them


def test_an_exact_test_of_n_rotations_gives_no_p_value_under_1_over_n():
    """A perfect tie in 30 notes: the data is the best of its 30 rotations, p = 1/30, and Holm's 4/30 is not
    found. Drawing 2,000 shifts from the other 29 rotations would have said p = 1/2001."""
    tied = notes(30, 6, pitch=lambda c, rng: 40 + int(BRIGHTNESS[c] * 50))
    tests = by_name(colour_sound([tied], permutations=2000))
    assert tests["brightness ~ pitch"].effect > 0.99  # below 1 only by ties of pitch within a colour
    assert tests["brightness ~ pitch"].p == pytest.approx(1 / 30)
    assert not any(t.found for t in tests.values())


def drifting(n: int, seed: int) -> list[Note]:
    """Notes as a model plays them, with no tie between colour and sound: the colour is kept for runs of about
    twenty notes, and pitch and velocity wander slowly, each on its own."""
    rng = random.Random(seed)
    colour, midi, velocity, out = rng.choice(list(COLOURS)), 60, 64, []
    for _ in range(n):
        if rng.random() < 0.05:
            colour = rng.choice(list(COLOURS))
        midi = min(96, max(36, midi + rng.choice((-2, -1, 0, 1, 2))))
        velocity = min(127, max(1, velocity + rng.choice((-6, -3, 0, 3, 6))))
        out.append(Note(0.0, midi, velocity, colour, 1.0))
    return out


def test_notes_that_drift_with_colours_held_for_long_are_not_found_associated_beyond_the_error_rate():
    """Shuffling single notes would find most of these "associated" (runs of one colour meet stretches of
    similar pitch); rotating the colours against the notes keeps both structures and so does not."""
    runs = 40
    false = sum(any(t.found for t in colour_sound([drifting(300, seed)], permutations=200, seed=seed).tests)
                for seed in range(runs))
    assert false <= 6, f"{false} of {runs} drifting, independent logs were found associated (5% expected)"


def test_each_agents_colours_are_rotated_against_its_own_notes():
    """Two agents of one model, each with its own planted tie: found together as one model's notes."""
    high = {c: 40 + int(BRIGHTNESS[c] * 40) for c in COLOURS}
    agents = [notes(120, seed, pitch=lambda c, rng: high[c] + rng.randint(0, 4)) for seed in (8, 9)]
    tests = by_name(colour_sound(agents, permutations=300))
    assert tests["brightness ~ pitch"].found and tests["brightness ~ pitch"].n == 240


def test_the_same_notes_and_seed_give_the_same_p_values():
    data = notes(100, 3)
    assert [t.p for t in colour_sound([data], permutations=300, seed=4).tests] ==\
        [t.p for t in colour_sound([data], permutations=300, seed=4).tests]


@pytest.mark.parametrize("data, why", [
    (notes(MIN_NOTES - 1, 5), f"at least {MIN_NOTES}"),
    ([Note(0.0, 60 + i % 12, 64, "blue", 1.0) for i in range(50)], "one colour"),
])
def test_too_few_notes_or_one_colour_are_not_tested_and_say_why(data, why):
    for t in colour_sound([data], permutations=100).tests:
        assert t.effect is None and t.p is None and t.p_holm is None and not t.found
        assert why in t.why


def test_mutual_information_of_copies_is_their_entropy_and_of_independent_codes_zero():
    x = np.array([0, 1, 2, 3] * 25)
    assert mutual_information(x, x) == pytest.approx(2.0)
    y = np.array([0] * 50 + [1] * 50)
    x = np.array([0, 1] * 50)  # every (x, y) pair equally often
    assert mutual_information(x, y) == pytest.approx(0.0)
    batch = np.stack([x, y])  # row by row, as the permutation test asks
    assert mutual_information(batch, y) == pytest.approx([0.0, 1.0])


def test_holm_adjusts_the_tested_in_order_and_leaves_the_untested():
    tests = [Association("a", "m", 1, 0.1, p=0.01), Association("b", "m", 1, None, why="x"),
             Association("c", "m", 1, 0.1, p=0.04), Association("d", "m", 1, 0.1, p=0.03)]
    adjusted = [t.p_holm for t in holm(tests)]
    assert adjusted[1] is None
    assert [adjusted[i] for i in (0, 2, 3)] == pytest.approx([0.03, 0.06, 0.06])  # 3 x 0.01, max(2 x 0.03, 0.04)
