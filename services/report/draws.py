"""The reference set of a permutation test whose null is a product of independent finite choices, and its p-value.

Each of k groups has its own number of choices (an agent's n rotations, a read's candidate posts); a member of
the reference set picks one choice per group, so there are prod(sizes) of them, the identity (the data as they
are) among them. If there are no more than `count`, every one is enumerated in mixed radix (`exact`); otherwise
`count` are drawn uniformly from the whole set, identity included, seeded (the same record gives the same
report). `p_value` says how: exact, the share of the set at least as extreme; drawn, (1 + b) / (1 + m), since the
data and the m draws are exchangeable under the null (Phipson & Smyth 2010); a draw that happens to be the
identity also counts in b, which errs on the conservative side only. Used by the colour-and-sound tests
(services/report/association.py) and the salon's influence test (services/report/influence.py).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np


class JointDraws:
    def __init__(self, sizes: Sequence[int], count: int, seed: int):
        self.sizes, self.count, self.seed = [int(n) for n in sizes], count, seed
        members = 1
        for n in self.sizes:  # the set's size, counted only as far as it matters (it can be astronomical)
            members *= n
            if members > count:
                break
        self.exact = members <= count
        self.size = members if self.exact else count  # members of the null distribution

    def batches(self, rows: int) -> Iterator[np.ndarray]:
        """The members, `rows` at a time at most: arrays (rows, groups) of each group's choice, 0..size-1."""
        rng = np.random.default_rng(self.seed)
        done = 0
        while done < self.size:
            size = min(max(1, rows), self.size - done)
            digits = np.empty((size, len(self.sizes)), dtype=np.int64)
            rank = np.arange(done, done + size, dtype=np.int64)  # exact: the members' numbers, in mixed radix
            for g, n in enumerate(self.sizes):
                if self.exact:
                    digits[:, g], rank = rank % n, rank // n
                else:
                    digits[:, g] = rng.integers(0, n, size=size)
            yield digits
            done += size

    def p_value(self, observed: float, null: np.ndarray, *, two_sided: bool) -> float:
        """The p-value of `observed` against the statistic of every member (`null`, in the order of `batches`)."""
        return p_value(observed, null, exact=self.exact, two_sided=two_sided)


def p_value(observed: float, null: np.ndarray, *, exact: bool, two_sided: bool) -> float:
    """`observed` against a null distribution: every member of the reference set (`exact`), or uniform draws."""
    if two_sided:
        beyond = np.abs(null) >= abs(observed) - 1e-12
    else:
        beyond = null >= observed - 1e-12  # a member that does as well counts, despite rounding
    if exact:
        return int(beyond.sum()) / len(null)  # the identity counts itself: at least 1/size
    return (1 + int(beyond.sum())) / (1 + len(null))
