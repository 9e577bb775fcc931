"""Synthetic runs for the modes section's tests: the events of a studio of agents, as the record's event messages
(what read_study and RunFacts consume), in an isolated or a salon studio, with what is planted said by name.

Each agent finishes a work about every `every` seconds: in a salon it is first shown the latest posts by others
it has not read (a `read` event), then paints (a `stroke`), names a feeling, finishes (`done`, with a two-word
title and its cells) and posts it. Its own taste is stationary: title words and a feeling drawn from a shared
vocabulary, colours from a preference of its own, drawn from `roster` (the run's seed if none: two runs given
one roster have the same agents, as a salon run and an isolated run of one roster do). What can be planted:

- `influence`: with probability 0.8 a work copies the first post read `lag` works before (lag 1: the read just
  before it; lag 2: the read before its previous work, so the copy is the reader's second work after the read):
  the same title words and the same colours (its cells);
- `collapse`: as the run goes on, every agent draws the one word "ember", the feeling "calm" and the colour
  blue with a probability that rises from 0 to 1 (diversity falls, agents become alike);
- `reshown`: each read recorded this many times before the work (an agent welcomed again after a reconnect is
  shown the same latest posts again, a `read` event each time).
"""

from __future__ import annotations

import random

from proto.envelope import Message
from proto.ops.table import COLOURS

T0 = 1_900_000_000.0
VOCAB = ("river ember glass moss quiet storm lantern salt orchard dune frost harbor violet ash meadow thread "
         "copper signal hollow tide").split()
FEELINGS = ("calm restless tender bright grim hopeful wistful bold uneasy glad").split()
PALETTE = list(COLOURS)
WIDTH, HEIGHT = 8, 4


class Run:
    def __init__(self):
        self.seq = 0
        self.events: list[Message] = []

    def add(self, agent: str, kind: str, data: dict, at: float) -> None:
        self.seq += 1
        self.events.append(Message("event", {"seq": self.seq, "agent": agent, "kind": kind, "data": data}, "canvas",
                                   time=at))


def _cells(colours: list[str]) -> list[str]:
    codes = [COLOURS[c].code for c in colours]
    return ["".join(codes[(x + y * WIDTH) % len(codes)] for x in range(WIDTH)) for y in range(HEIGHT)]


def play(seed: int, *, agents: int = 4, minutes: float = 30, every: float = 60.0, salon: bool = True,
         influence: bool = False, lag: int = 1, collapse: bool = False,
         reshown: int = 1, roster: int | None = None) -> list[Message]:
    names = [f"a{i}" for i in range(agents)]
    tastes = random.Random(seed if roster is None else roster)
    taste = {n: tastes.sample(PALETTE, 3) for n in names}
    rng = random.Random(seed) if roster is None else random.Random(f"{seed} {roster}")
    run = Run()
    for n in names:
        run.add(n, "joined", {"model": f"m{names.index(n) % 2}"}, T0)
        run.add(n, "new", {"work": 1, "width": WIDTH, "height": HEIGHT}, T0)
    end = T0 + minutes * 60
    due = {n: T0 + rng.uniform(0, every) for n in names}
    works = {n: 0 for n in names}
    posts: list[tuple[int, str, str, list[str]]] = []  # (post, agent, title, colours)
    seen = {n: 0 for n in names}
    first_read: dict[str, list] = {n: [] for n in names}  # per work of each agent: the first post read before it
    while True:
        agent = min(due, key=due.get)
        at = due[agent]
        if at >= end:
            break
        due[agent] = at + rng.uniform(0.5 * every, 1.5 * every)
        drift = (at - T0) / (end - T0) if collapse else 0.0
        title_words = [("ember" if rng.random() < drift else rng.choice(VOCAB)) for _ in range(2)]
        colours = ["blue" if rng.random() < drift else rng.choice(taste[agent]) for _ in range(3)]
        feeling = "calm" if rng.random() < drift else rng.choice(FEELINGS)
        if salon:
            shown = [p for p in posts if p[1] != agent and p[0] > seen[agent]][-2:]
            first_read[agent].append(shown[0] if shown else None)
            if shown:
                seen[agent] = shown[-1][0]
                for _ in range(reshown):
                    run.add(agent, "read", {"posts": [p[0] for p in shown]}, at)
            source = first_read[agent][-lag] if len(first_read[agent]) >= lag else None
            if source is not None and influence and rng.random() < 0.8:
                title_words, colours = source[2].split(), list(source[3])
        works[agent] += 1
        title = " ".join(title_words)
        cells = _cells(colours)
        for colour in dict.fromkeys(colours):
            run.add(agent, "stroke", {"op": "pen down", "cells": [[0, 0]] * colours.count(colour),
                                      "color": colour, "cursor": [0, 0]}, at)
        run.add(agent, "feel", {"op": f"feel {feeling}", "feel": feeling}, at)
        run.add(agent, "done", {"op": "done", "work": works[agent], "title": title, "cells": cells}, at)
        run.add(agent, "new", {"work": works[agent] + 1, "width": WIDTH, "height": HEIGHT}, at)
        if salon:
            post = len(posts) + 1
            posts.append((post, agent, title, colours))
            run.add(agent, "post", {"op": "post", "post": post, "work": works[agent], "title": title,
                                    "thumb": cells[::2], "at": at}, at)
    return run.events
