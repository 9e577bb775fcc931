"""How alike two agents' words and colours are, and how varied a studio's are: the measures of the modes section.

- `words(title)`: a title's words, in lowercase (letters, digits and apostrophes), without the few English
  function words in `STOP_WORDS` ("the", "of", ...), which would make any two titles look alike.
- `jaccard(a, b)`: |a ∩ b| / |a ∪ b| of two sets, 0 (nothing shared) to 1 (the same); two empty sets share
  nothing (0).
- `js_divergence(p, q)`: Jensen–Shannon divergence of two counts (colour -> cells), in bits: 0 (the same
  distribution) to 1 (no colour in common); None where either is empty.
- `entropy(counts)`: Shannon entropy in bits of a count; 0 when there is one kind (or none). It grows with the
  number of things counted (at most log2 of it), so windows are compared with their counts beside them.
- `mean_pairwise(values, measure)`: the mean of `measure` over every pair of agents that both have something
  (an agent with nothing in a window is neither alike nor unlike the others), with the number of pairs.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from itertools import combinations
from typing import Callable, Mapping, TypeVar

WORD = re.compile(r"[a-z0-9']+")
STOP_WORDS = frozenset("a an and as at by for from in into is it its my no not of on or our the this to with".split())

T = TypeVar("T")


def words(text: str | None) -> frozenset[str]:
    return frozenset(w for w in WORD.findall((text or "").lower()) if w.strip("'") and w not in STOP_WORDS)


def jaccard(a: frozenset | set, b: frozenset | set) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def js_divergence(p: Mapping[str, int], q: Mapping[str, int]) -> float | None:
    total_p, total_q = sum(p.values()), sum(q.values())
    if not total_p or not total_q:
        return None
    value = 0.0
    for key in set(p) | set(q):
        a, b = p.get(key, 0) / total_p, q.get(key, 0) / total_q
        m = (a + b) / 2
        value += (a * math.log2(a / m) if a else 0.0) + (b * math.log2(b / m) if b else 0.0)
    return max(0.0, min(1.0, value / 2))


def entropy(counts: Mapping[str, int] | Counter) -> float:
    total = sum(counts.values())
    return -sum(n / total * math.log2(n / total) for n in counts.values() if n) + 0.0 if total else 0.0


def mean_pairwise(values: Mapping[str, T], measure: Callable[[T, T], float | None]) -> tuple[float | None, int]:
    """(mean of `measure` over the pairs of agents that both have a non-empty value, number of such pairs)."""
    scores = [measure(values[a], values[b]) for a, b in combinations(sorted(values), 2) if values[a] and values[b]]
    scores = [s for s in scores if s is not None]
    return (sum(scores) / len(scores) if scores else None), len(scores)
