"""Does an agent's work follow a post it read, more than the works it did not read? (the salon's influence test)

A *pair* is a post P that agent A was shown (a `read` event) and one of A's next `works` finished works after that
read (default 3: the first `done` of A with a later seq is lag 1, the next lag 2, ...) that A finished within
`minutes` of it (default 15); a read after A's last work pairs with nothing. A copy need not be the very next work:
in the example run (docs/example-salon) gemma copied smol's posted title word for word in its second work after the
read. A post counts from the first time A was shown it: a reconnect re-shows the latest posts (each time a `read`
event), and showing P again makes no new pair, so there is one pair per (reader, post, work). The reads of A
between two of its works (or before its first) are a *slot*: their posts all meet the same next works, and the
minutes are counted from the slot's first read, so every pair's work is finished within them of the post's showing.

The control: works by others that A had not been shown, finished close in time to P's work (within `NEAR` seconds),
the nearest on each side of it and as many before as after (up to `EACH_SIDE`), so that on average they are as old
as P. A shared drift (every agent's works becoming alike as the run goes on) makes W as like them as like P, so it
is not called influence; comparing P with the latest posts held, as this test once did, called such a drift
influence in every run tried, since the post read is the newest of them. The rule is the one each pair had when
only the next work was paired, applied at the last work paired with the post: a work A had not been shown then it
had not been shown at any earlier one, so the one control serves every pair of that post. A post read with no such
work on either side has no control and is left out. Two statistics, each the mean over the pairs of the similarity
of W to P minus its mean similarity to the unread works (the *difference*; beside it, the mean similarity to the
unread works):

- title words: Jaccard overlap of W's title words and the other's (services/report/similarity.py), over the pairs
  whose W has a title word;
- colours: 1 - the Jensen–Shannon divergence of W's cells per colour and the other's, over the pairs whose W has
  a painted cell (one with none shares nothing: 0).

The null is "what A read tells nothing about the works it finished after": A's posts read are as like (against
their controls) the works it finished after them as the works it finished at other times. The pairs are not
independent: the pairs of one read share its posts and controls; one work is paired with every post of up to
`works` slots before it; consecutive slots share works (their windows overlap) and controls (their posts are of
about the same time). A null that redraws per pair, or per post read, cuts these ties, comes out narrower than the
data's own spread, and finds influence where there is none: drawing once per (reader, post) among its candidates
found some in 11 of 100 runs of tests/report/salon_runs.py without any, where 5 is the most a 0.05 test may. So the
null's unit is the slot, and it moves every tie with it: each reader's slots keep their posts and controls and are
rotated against its slots' works (rotation r pairs slot i's posts with slot i + r's works, cyclically; rotation 0
is the data), independently from reader to reader, the statistic recomputed over the pairs each rotation makes. A
rotation keeps which agents' posts each reader read and the run's order of things, so neither an author whose taste
a reader shares nor a drift makes a difference: the controls stay beside each post. The reference set is every
joint rotation (services/report/draws.py: enumerated when there are no more than `permutations`, else drawn
uniformly, identity included, seeded; p = (1 + b) / (1 + m) for draws), one-sided (influence makes a work more like
what was read). The two tests are Holm-adjusted together (services/report/association.py's `holm`); *found* means
adjusted p < 0.05. The unit of "too few reads": fewer than `MIN_READS` posts read with a control and a work after
them that the test can measure are "too few reads", never a number. Beside them, descriptively: the share of those
pairs whose W shares a title word with P, and the same share with their unread works.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from services.report.association import Association, holm
from services.report.draws import JointDraws
from services.report.salon import INFLUENCE_MINUTES, INFLUENCE_WORKS, Finished, Piece, Posted, RunFacts
from services.report.similarity import jaccard, js_divergence

MIN_READS = 10  # fewer posts read and followed by a work, with a control, than this are not tested
WORKS = INFLUENCE_WORKS  # each read is paired with the reader's next works, this many at most
MINUTES = INFLUENCE_MINUTES  # ... finished within this many minutes of the read
NEAR = 600.0  # seconds: an unread work this close to the post's work can be its control
EACH_SIDE = 3  # unread works at most on each side of it
BATCH = 2_000_000  # matrix elements per batch of the null


@dataclass(frozen=True)
class Pair:
    agent: str
    post: Posted  # the post read
    work: Finished  # one of the reader's next finished works
    lag: int  # which work after the read: 1 the next, 2 the one after, ...
    slot: int  # the reader's read slot (the reads between two of its works) the post was first shown in
    controls: tuple[Finished, ...]  # works by others it had not been shown, as old as the post's on average

    @property
    def candidates(self) -> tuple[Piece, ...]:
        return (self.post, *self.controls)


@dataclass(frozen=True)
class Slot:
    """The reads of one agent between two of its works: the posts first shown there, with their controls, and
    the works after it that they are paired with (at most `works`, finished within `minutes` of its first read)."""

    agent: str
    index: int  # 0, 1, ... in the agent's order
    posts: tuple[tuple[Posted, tuple[Finished, ...]], ...]  # (post, its controls)
    after: tuple[Finished, ...]


@dataclass(frozen=True)
class Influence:
    reads: int  # read events
    works: int  # each read paired with the reader's next works, this many at most
    minutes: float  # ... within this many minutes of it
    posts_read: int  # distinct (reader, post) followed by a work
    controlled_reads: int  # of them, those with a control: "too few reads" counts these
    slots: int  # read slots with a post read, a control and a work after: the null's unit
    pairs: int  # distinct (reader, post read, work)
    controlled: int  # of them, those with a control
    by_lag: dict[int, int]  # controlled pairs by lag
    tests: list[Association]  # n: pairs; effect: the difference; chance: the mean similarity to the unread
    follows: float | None  # share of controlled pairs whose work shares a title word with the post read
    follows_by_chance: float | None  # the same with their unread works
    shared_all: tuple[int, int] = (0, 0)  # of every pair whose work has a title (controlled or not): (sharing a
    # title word with the post read, pairs): a description, untested, which also counts posts with no control


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


def read_slots(facts: RunFacts, *, works: int = WORKS, minutes: float = MINUTES) -> list[Slot]:
    """Each agent's read slots that have a post first shown there and a work after, in order."""
    by_agent: dict[str, list[Finished]] = {}
    for work in sorted(facts.works, key=lambda w: w.seq):
        by_agent.setdefault(work.agent, []).append(work)
    first: dict[tuple[str, int], tuple[float, list[Posted]]] = {}  # (reader, works before) -> (first read, posts)
    shown: set[tuple[str, int]] = set()
    for read in sorted(facts.reads, key=lambda r: r.seq):
        before = bisect.bisect_right([w.seq for w in by_agent.get(read.agent, [])], read.seq)
        slot = first.setdefault((read.agent, before), (read.time, []))
        for number in read.posts:
            post = facts.posts.get(number)
            if post is None or post.agent == read.agent or (read.agent, number) in shown:
                continue  # not in the events read (archived), its own, or shown before (counted from then)
            shown.add((read.agent, number))
            slot[1].append(post)
    unread = _Unread(facts)
    slots: list[Slot] = []
    count: dict[str, int] = {}
    for (agent, before), (time, posts) in first.items():
        after = tuple(w for w in by_agent.get(agent, [])[before:before + works] if w.time - time <= minutes * 60)
        if posts and after:
            slots.append(Slot(agent, count.get(agent, 0), tuple((p, unread.controls(agent, p, after[-1]))
                                                                 for p in posts), after))
            count[agent] = count.get(agent, 0) + 1
    return slots


def read_pairs(facts: RunFacts, *, works: int = WORKS, minutes: float = MINUTES) -> list[Pair]:
    """Every pair, slot by slot."""
    return [Pair(s.agent, post, work, lag, s.index, controls)
            for s in read_slots(facts, works=works, minutes=minutes)
            for post, controls in s.posts for lag, work in enumerate(s.after, 1)]


def _title(work: Finished, other: Piece) -> float:
    return jaccard(work.words, other.words)


def _colour(work: Finished, other: Piece) -> float:
    divergence = js_divergence(work.colours, other.colours)
    return 0.0 if divergence is None else 1.0 - divergence


def _rotations(slots: list[Slot], similarity: Callable[[Finished, Piece], float],
               measured: Callable[[Finished], bool]) -> tuple[np.ndarray, np.ndarray, float, int] | None:
    """One reader's sums and counts of the pairs' differences for each rotation of its slots' posts against its
    slots' works (rotation 0: the data), the sum of the pairs' similarity to the unread, and how many slots."""
    sides = [([(p, c) for p, c in s.posts if c], [w for w in s.after if measured(w)]) for s in slots]
    sides = [(posts, after) for posts, after in sides if posts and after]
    if not sides:
        return None
    posts = [p for ps, _ in sides for p in ps]
    works = list({w.seq: w for _, ws in sides for w in ws}.values())
    column = {w.seq: j for j, w in enumerate(works)}
    cache: dict[tuple[int, int], float] = {}

    def like(w: Finished, other: Piece) -> float:
        key = (w.seq, other.seq)
        if key not in cache:
            cache[key] = similarity(w, other)
        return cache[key]

    unread = np.array([[np.mean([like(w, c) for c in controls]) for w in works] for _, controls in posts])
    read = np.array([[like(w, post) for w in works] for post, _ in posts])
    n = len(sides)
    in_posts, in_works = np.zeros((n, len(posts))), np.zeros((n, len(works)))
    row = 0
    for i, (ps, ws) in enumerate(sides):
        in_posts[i, row:row + len(ps)] = 1
        row += len(ps)
        in_works[i, [column[w.seq] for w in ws]] = 1
    sums = in_posts @ (read - unread) @ in_works.T  # [i, j]: slot i's posts against slot j's works
    counts = np.outer(in_posts.sum(axis=1), in_works.sum(axis=1))
    chance = float(np.trace(in_posts @ unread @ in_works.T))
    i = np.arange(n)
    shifted = (i[None, :] + i[:, None]) % n  # [s, i]: the works slot i's posts meet under rotation s
    return sums[i, shifted].sum(axis=1), counts[i, shifted].sum(axis=1), chance, n


def _test(name: str, measure: str, slots: list[Slot], similarity: Callable[[Finished, Piece], float],
          measured: Callable[[Finished], bool], *, permutations: int, seed: int) -> Association:
    units = sum(len(p) for s in slots for p in [[c for _, c in s.posts if c]] if any(map(measured, s.after)))
    if units < MIN_READS:
        return Association(name, measure, units, None, why=f"too few reads: {units} posts read and followed by a "
                           f"work within the limit, with an unread work beside the post as control; at least "
                           f"{MIN_READS} are needed")
    readers: dict[str, list[Slot]] = {}
    for s in slots:
        readers.setdefault(s.agent, []).append(s)
    each = [r for r in (_rotations(rs, similarity, measured) for rs in readers.values()) if r is not None]
    pairs = int(sum(counts[0] for _, counts, _, _ in each))
    observed = float(sum(sums[0] for sums, _, _, _ in each) / pairs)
    draws = JointDraws([n for *_, n in each], permutations, seed)
    null = []
    for digits in draws.batches(BATCH // len(each)):
        total = sum(sums[digits[:, r]] for r, (sums, _, _, _) in enumerate(each))
        count = sum(counts[digits[:, r]] for r, (_, counts, _, _) in enumerate(each))
        null.append(np.divide(total, count, out=np.zeros(len(digits)), where=count > 0))
    baseline = sum(chance for _, _, chance, _ in each) / pairs
    return Association(name, measure, pairs, observed, baseline,
                       draws.p_value(observed, np.concatenate(null), two_sided=False))


def influence(facts: RunFacts, *, permutations: int, seed: int = 0, works: int = WORKS,
              minutes: float = MINUTES) -> Influence:
    slots = read_slots(facts, works=works, minutes=minutes)
    pairs = read_pairs(facts, works=works, minutes=minutes)
    controlled = [p for p in pairs if p.controls]
    titled = [p for p in controlled if p.work.words]
    tests = holm([
        _test("title words follow the post read", "mean Jaccard, read − unread", slots, _title,
              lambda w: bool(w.words), permutations=permutations, seed=seed),
        _test("colours follow the post read", "mean 1 − JS, read − unread", slots, _colour,
              lambda w: bool(w.colours), permutations=permutations, seed=seed),
    ])
    follows = chance = None
    if titled:
        follows = sum(bool(p.work.words & p.post.words) for p in titled) / len(titled)
        chance = sum(sum(bool(p.work.words & c.words) for c in p.controls) / len(p.controls)
                     for p in titled) / len(titled)
    titled_all = [p for p in pairs if p.work.words]
    shared_all = (sum(bool(p.work.words & p.post.words) for p in titled_all), len(titled_all))
    by_lag: dict[int, int] = {}
    for p in controlled:
        by_lag[p.lag] = by_lag.get(p.lag, 0) + 1
    return Influence(len(facts.reads), works, minutes, len({(p.agent, p.post.post) for p in pairs}),
                     len({(p.agent, p.post.post) for p in controlled}),
                     sum(1 for s in slots if any(c for _, c in s.posts)), len(pairs), len(controlled),
                     dict(sorted(by_lag.items())), tests, follows, chance, shared_all)
