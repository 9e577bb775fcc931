"""Does an agent's next work follow a post it read, more than the works it did not read? (the salon's influence test)

Each `read` of post P by agent A is paired with A's next finished work W after it (the first `done` of A with a
later seq; a read after A's last work pairs with nothing). A post shown again (a reconnect re-shows the latest
posts, each time a `read` event) makes one pair per (reader, post, next work), not one per showing.

The control: works by others that A had not been shown when it finished W, finished close in time to P's work
(within `NEAR` seconds), the nearest on each side of it and as many before as after (up to `EACH_SIDE`), so that
on average they are as old as P. A shared drift (every agent's works becoming alike as the run goes on) makes W
as like them as like P, so it is not called influence; comparing P with the latest posts held, as this test once
did, called such a drift influence in every run tried, since the post read is the newest of them. A pair with no
such work on either side has no control and is left out. Two statistics, each the mean over the pairs of the
similarity of W to P minus its mean similarity to the unread works (the *difference*; beside it, the mean
similarity to the unread works):

- title words: Jaccard overlap of W's title words and the other's (services/report/similarity.py), over the pairs
  whose W has a title word;
- colours: 1 - the Jensen–Shannon divergence of W's cells per colour and the other's, over the pairs whose W has
  a painted cell (one with none shares nothing: 0).

The null is "which of these works A read tells nothing about W": each pair's post and its unread works are
exchangeable, so each pair's read one is replaced by any of them, independently from pair to pair. The reference
set is every joint choice (services/report/draws.py: enumerated when there are no more than `permutations`, else
drawn uniformly, identity included, seeded; p = (1 + b) / (1 + m) for draws), one-sided (influence makes a work
more like what was read). The two tests are Holm-adjusted together (services/report/association.py's `holm`);
*found* means adjusted p < 0.05. Fewer than `MIN_PAIRS` pairs with a control are "too few reads", never a number.
Beside them, descriptively: the share of those pairs whose W shares a title word with P, and the same share with
their unread works.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from services.report.association import Association, holm
from services.report.draws import JointDraws
from services.report.salon import Finished, Piece, Posted, RunFacts
from services.report.similarity import jaccard, js_divergence

MIN_PAIRS = 10  # fewer reads followed by a work, with a control, than this are not tested
NEAR = 600.0  # seconds: an unread work this close to the post's work can be its control
EACH_SIDE = 3  # unread works at most on each side of it
BATCH = 2_000_000  # matrix elements per batch of the null


@dataclass(frozen=True)
class Pair:
    agent: str
    post: Posted  # the post read
    work: Finished  # the reader's next finished work
    controls: tuple[Finished, ...]  # works by others it had not been shown, as old as the post's on average

    @property
    def candidates(self) -> tuple[Piece, ...]:
        return (self.post, *self.controls)


@dataclass(frozen=True)
class Influence:
    reads: int  # read events
    pairs: int  # distinct (reader, post read, next work)
    controlled: int  # of them, those with a control
    tests: list[Association]  # effect: the difference; chance: the mean similarity to the unread works
    follows: float | None  # share of controlled pairs whose work shares a title word with the post read
    follows_by_chance: float | None  # the same with their unread works


def _key(post: Posted) -> int:
    """A post's work, as the works are known: its `done`'s seq (negative: a post whose work is not in the events)."""
    return post.work_seq if post.work_seq is not None else -post.seq


class _Unread:
    """The works of a run by time, and when each reader was first shown each (by `read` events)."""

    def __init__(self, facts: RunFacts):
        self.works = sorted(facts.works, key=lambda w: (w.time, w.seq))
        self.times = [w.time for w in self.works]
        self.shown: dict[tuple[str, int], int] = {}  # (reader, work key) -> seq of the first read showing it
        for read in sorted(facts.reads, key=lambda r: r.seq):
            for number in read.posts:
                if number in facts.posts:
                    self.shown.setdefault((read.agent, _key(facts.posts[number])), read.seq)

    def controls(self, reader: str, post: Posted, work: Finished) -> tuple[Finished, ...]:
        made = post.time if post.made is None else post.made
        usable = (lambda w: w.agent != reader and w.seq != post.work_seq
                  and self.shown.get((reader, w.seq), math.inf) > work.seq)
        middle = bisect.bisect_left(self.times, made)
        before = self._side(range(middle - 1, -1, -1), made, usable)
        after = self._side(range(middle, len(self.works)), made, usable)
        k = min(len(before), len(after))
        return (*before[:k], *after[:k])

    def _side(self, indices: range, made: float, usable: Callable[[Finished], bool]) -> list[Finished]:
        found: list[Finished] = []
        for i in indices:
            if abs(self.works[i].time - made) > NEAR or len(found) == EACH_SIDE:
                break
            if usable(self.works[i]):
                found.append(self.works[i])
        return found


def read_pairs(facts: RunFacts) -> list[Pair]:
    works: dict[str, list[Finished]] = {}
    for work in facts.works:
        works.setdefault(work.agent, []).append(work)
    unread = _Unread(facts)
    pairs, made = [], set()
    for read in sorted(facts.reads, key=lambda r: r.seq):
        work = next((w for w in works.get(read.agent, []) if w.seq > read.seq), None)
        if work is None:
            continue
        for number in read.posts:
            post = facts.posts.get(number)
            if post is None or post.agent == read.agent or (read.agent, number, work.seq) in made:
                continue  # not in the events read (archived), its own, or shown again before the same work
            made.add((read.agent, number, work.seq))
            pairs.append(Pair(read.agent, post, work, unread.controls(read.agent, post, work)))
    return pairs


def _title(work: Finished, other: Piece) -> float:
    return jaccard(work.words, other.words)


def _colour(work: Finished, other: Piece) -> float:
    divergence = js_divergence(work.colours, other.colours)
    return 0.0 if divergence is None else 1.0 - divergence


def _test(name: str, measure: str, pairs: list[Pair], similarity: Callable[[Finished, Piece], float], *,
          permutations: int, seed: int) -> Association:
    if len(pairs) < MIN_PAIRS:
        return Association(name, measure, len(pairs), None, why=f"too few reads: {len(pairs)} followed by a work "
                           f"with an unread work beside the post as control; at least {MIN_PAIRS} are needed")
    sizes = np.array([len(p.candidates) for p in pairs])
    table = np.zeros((len(pairs), sizes.max()))
    for i, p in enumerate(pairs):
        table[i, :sizes[i]] = [similarity(p.work, c) for c in p.candidates]
    total = table.sum(axis=1)
    rows = np.arange(len(pairs))

    def difference(chosen: np.ndarray) -> np.ndarray:  # the chosen one's similarity minus the others' mean
        picked = table[rows, chosen]
        return (picked - (total - picked) / (sizes - 1)).mean(axis=-1)

    observed = float(difference(np.zeros(len(pairs), dtype=np.int64)))
    draws = JointDraws(sizes.tolist(), permutations, seed)
    null = np.concatenate([difference(digits) for digits in draws.batches(BATCH // len(pairs))])
    baseline = float(((total - table[:, 0]) / (sizes - 1)).mean())
    return Association(name, measure, len(pairs), observed, baseline, draws.p_value(observed, null, two_sided=False))


def influence(facts: RunFacts, *, permutations: int, seed: int = 0) -> Influence:
    pairs = read_pairs(facts)
    controlled = [p for p in pairs if p.controls]
    titled = [p for p in controlled if p.work.words]
    painted = [p for p in controlled if p.work.colours]
    tests = holm([
        _test("title words follow the post read", "mean Jaccard, read − unread", titled, _title,
              permutations=permutations, seed=seed),
        _test("colours follow the post read", "mean 1 − JS, read − unread", painted, _colour,
              permutations=permutations, seed=seed),
    ])
    follows = chance = None
    if titled:
        follows = sum(bool(p.work.words & p.post.words) for p in titled) / len(titled)
        chance = sum(sum(bool(p.work.words & c.words) for c in p.controls) / len(p.controls)
                     for p in titled) / len(titled)
    return Influence(len(facts.reads), len(pairs), len(controlled), tests, follows, chance)
