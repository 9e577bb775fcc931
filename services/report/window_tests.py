"""Tests over a run's windows (services/report/modes.py): does a series rise or fall over a run (`trend`), and is
it higher in one run than in another (`difference`)? Both are permutation tests with the discipline of the
colour-and-sound tests: every member of the reference set when there are no more than `permutations`, else that
many uniform draws with the data among them and p = (1 + b) / (1 + m); two-sided; Holm over a run's series.

- `trend`: Spearman's ρ between the window's number and its value, over the windows that have one; the reference
  set is every ordering of the windows. Fewer than `MIN_WINDOWS` are not tested (3 windows have 6 orderings).
- `difference`: this run's mean over its windows minus the other's; the reference set is every way of splitting
  the two runs' windows, together, into two groups of their sizes (the null: a window's value does not depend on
  the run it comes from). Each run needs `MIN_EACH` windows with a value.

Windows are not independent (a run drifts): a trend found says that the series moves, not why. A drift the two
runs share makes the split test conservative (its reference set mixes early windows with late ones), not liberal.
A test can have too few windows to ever be found: its smallest p (2 / n! for n windows' orderings, 1 / C for C
splits, 1 / (1 + m) drawn) times the number of series Holm adjusts over may be over 0.05 whatever the data;
`verdicts` says so instead of "none found".
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np

from services.report.association import ALPHA, Association
from services.report.draws import p_value

MIN_WINDOWS = 4
MIN_EACH = 2


def _orderings(n: int, count: int, seed: int) -> tuple[np.ndarray, bool]:
    """Orderings of n windows: all of them (exact) when n! <= count, else `count` uniform draws."""
    if math.factorial(n) <= count:
        return np.array(list(itertools.permutations(range(n)))), True
    return _shuffles(n, count, seed), False


def _shuffles(n: int, count: int, seed: int) -> np.ndarray:
    return np.argsort(np.random.default_rng(seed).random((count, n)), axis=1)


def _values(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def trend(name: str, values: list[float | None], *, permutations: int, seed: int) -> Association:
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < MIN_WINDOWS:
        return Association(name, "Spearman ρ", len(points), None,
                           why=f"{len(points)} windows with a value; at least {MIN_WINDOWS} are needed")
    from scipy import stats  # seconds to import: only when a trend is tested

    when = stats.rankdata([i for i, _ in points])
    value = stats.rankdata([v for _, v in points])
    if len(set(value)) < 2:
        return Association(name, "Spearman ρ", len(points), None, why="the same value in every window")
    value = value - value.mean()
    when = when - when.mean()
    scale = math.sqrt((when * when).sum() * (value * value).sum())
    observed = float((when * value).sum() / scale)
    orders, exact = _orderings(len(points), permutations, seed)
    null = (value[orders] * when[None, :]).sum(axis=1) / scale
    return Association(name, "Spearman ρ", len(points), observed,
                       p=p_value(observed, null, exact=exact, two_sided=True),
                       floor=2 / len(orders) if exact else 1 / (1 + len(orders)))


def difference(name: str, these: list[float | None], others: list[float | None], *, permutations: int,
               seed: int) -> Association:
    a, b = _values(these), _values(others)
    measure = "difference of means"
    if min(len(a), len(b)) < MIN_EACH:
        return Association(name, measure, len(a) + len(b), None, why=f"{len(a)} and {len(b)} windows with a "
                           f"value; at least {MIN_EACH} in each run are needed")
    pooled = np.array(a + b)
    if len(set(pooled.tolist())) < 2:
        return Association(name, measure, len(pooled), None, why="the same value in every window")
    splits = math.comb(len(pooled), len(a))
    exact = splits <= permutations
    chosen = (np.array(list(itertools.combinations(range(len(pooled)), len(a)))) if exact
              else _shuffles(len(pooled), permutations, seed)[:, :len(a)])
    picked = pooled[chosen].sum(axis=1)
    null = picked / len(a) - (pooled.sum() - picked) / len(b)
    observed = float(np.mean(a) - np.mean(b))
    return Association(name, measure, len(pooled), observed, p=p_value(observed, null, exact=exact, two_sided=True),
                       floor=1 / splits if exact else 1 / (1 + permutations))


def verdicts(tests: list[Association]) -> list[Association]:
    """Holm-adjusted tests, with `why` said of those that no data could have made *found* with these windows."""
    tested = [t for t in tests if t.p is not None]
    if not tested:
        return tests
    lowest = len(tested) * min(t.floor for t in tested)  # no adjusted p can be under this
    return [replace(t, why=f"no verdict possible: {t.n} windows give no p under {t.floor:.3g}, and Holm over "
                           f"{len(tested)} series needs one under {ALPHA / len(tested):.3g}")
            if t.p is not None and not t.found and (lowest >= ALPHA or t.floor >= ALPHA) else t for t in tests]
