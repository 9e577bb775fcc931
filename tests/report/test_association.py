"""The colour-and-sound tests on notes made here: they find a planted association, find none in independent
notes (at the rate a 5% family-wise error allows), and their parts compute what they should."""

from __future__ import annotations

import random

import numpy as np
import pytest

from proto.ops.table import COLOURS
from services.report.association import (BRIGHTNESS, BY_BRIGHTNESS, MIN_NOTES, Association, colour_sound, holm,
                                         mutual_information)
from services.report.study import Note


def notes(n: int, seed: int, *, pitch=None, velocity=None) -> list[Note]:
    """n notes with random colours; pitch(colour, rng) and velocity(colour, rng), or independent draws."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        colour = rng.choice(list(COLOURS))
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
