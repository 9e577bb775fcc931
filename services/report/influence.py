"""Does an agent's next work follow a post it read, more than chance? (the salon's influence test)

Each `read` of post P by agent A is paired with A's next finished work W after it (the first `done` of A with a
later seq; a read after A's last work pairs with nothing). Two statistics, each the mean over the pairs:

- title words: Jaccard overlap of W's title words and P's (services/report/similarity.py), over the pairs whose
  W has a title word;
- colours: 1 - the Jensen–Shannon divergence of W's cells per colour and those of P's work, over the pairs whose
  W has a painted cell (a post with none shares nothing: 0).

The null is "which post A read tells nothing about W": each pair's post is replaced by any of its candidates,
the posts by others than A that the salon held when A read P (the latest `RECENT_POSTS` of them, P always
among them), independently from pair to pair. The latest, not all: agents may drift together over a long run,
and a post from hours before would make a recent one look followed when it was only recent. The reference set
is every joint choice of candidates (services/report/draws.py: enumerated when there are no more than
`permutations`, else drawn uniformly, identity included, seeded; p = (1 + b) / (1 + m) for draws), one-sided
(influence makes a work more like what was read). The two tests are Holm-adjusted together (services/report/
association.py's `holm`); *found* means adjusted p < 0.05. Fewer than `MIN_PAIRS` pairs are "too few reads",
never a number. Beside them, descriptively: the share of pairs whose W shares a title word with P, and the
same share expected from the candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from services.report.association import Association, holm
from services.report.draws import JointDraws
from services.report.salon import Finished, Posted, RunFacts
from services.report.similarity import jaccard, js_divergence

MIN_PAIRS = 10  # fewer reads followed by a work than this are not tested
RECENT_POSTS = 20  # a read's candidates: the latest posts by others at the time
BATCH = 2_000_000  # matrix elements per batch of the null


@dataclass(frozen=True)
class Pair:
    agent: str
    post: Posted  # the post read
    work: Finished  # the reader's next finished work
    candidates: tuple[Posted, ...]  # the posts it could have been, itself among them


@dataclass(frozen=True)
class Influence:
    reads: int  # read events
    pairs: int  # (post read, next work) pairs
    tests: list[Association]
    follows: float | None  # share of pairs whose work shares a title word with the post read
    follows_by_chance: float | None  # the same, expected from the candidates


def read_pairs(facts: RunFacts) -> list[Pair]:
    works: dict[str, list[Finished]] = {}
    for work in facts.works:
        works.setdefault(work.agent, []).append(work)
    by_seq = sorted(facts.posts.values(), key=lambda p: p.seq)
    pairs = []
    for read in facts.reads:
        work = next((w for w in works.get(read.agent, []) if w.seq > read.seq), None)
        if work is None:
            continue
        held = [p for p in by_seq if p.seq < read.seq and p.agent != read.agent]
        for number in read.posts:
            post = facts.posts.get(number)
            if post is None or post.agent == read.agent:
                continue  # not in the events read (archived), or its own
            recent = held[-RECENT_POSTS:]
            candidates = tuple(recent if post in recent else [post, *recent[1:]])
            pairs.append(Pair(read.agent, post, work, candidates))
    return pairs


def _title(work: Finished, post: Posted) -> float:
    return jaccard(work.words, post.words)


def _colour(work: Finished, post: Posted) -> float:
    divergence = js_divergence(work.colours, post.colours)
    return 0.0 if divergence is None else 1.0 - divergence


def _test(name: str, measure: str, pairs: list[Pair], similarity: Callable[[Finished, Posted], float], *,
          permutations: int, seed: int) -> Association:
    if len(pairs) < MIN_PAIRS:
        return Association(name, measure, len(pairs), None,
                           why=f"too few reads: {len(pairs)} followed by a work; at least {MIN_PAIRS} are needed")
    if all(len(p.candidates) < 2 for p in pairs):
        return Association(name, measure, len(pairs), None, why="no read had another post to compare it with")
    width = max(len(p.candidates) for p in pairs)
    table = np.zeros((len(pairs), width))
    for i, p in enumerate(pairs):
        table[i, :len(p.candidates)] = [similarity(p.work, c) for c in p.candidates]
    read = np.array([p.candidates.index(p.post) for p in pairs])
    rows = np.arange(len(pairs))
    observed = float(table[rows, read].mean())
    draws = JointDraws([len(p.candidates) for p in pairs], permutations, seed)
    null = np.concatenate([table[rows, digits].mean(axis=1) for digits in draws.batches(BATCH // len(pairs))])
    return Association(name, measure, len(pairs), observed, float(null.mean()),
                       draws.p_value(observed, null, two_sided=False))


def influence(facts: RunFacts, *, permutations: int, seed: int = 0) -> Influence:
    pairs = read_pairs(facts)
    titled = [p for p in pairs if p.work.words]
    painted = [p for p in pairs if p.work.colours]
    tests = holm([
        _test("title words follow the post read", "mean Jaccard", titled, _title, permutations=permutations,
              seed=seed),
        _test("colours follow the post read", "mean 1 - JS", painted, _colour, permutations=permutations, seed=seed),
    ])
    follows = chance = None
    if titled:
        follows = sum(bool(p.work.words & p.post.words) for p in titled) / len(titled)
        chance = sum(sum(bool(p.work.words & c.words) for c in p.candidates) / len(p.candidates)
                     for p in titled) / len(titled)
    return Influence(len(facts.reads), len(pairs), tests, follows, chance)
