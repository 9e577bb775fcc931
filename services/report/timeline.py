"""Notes and feelings over time, per model: counts in equal bins from the record's first event.

Bins are an hour long when the record spans six hours or more, so that "per hour" is read straight off the
table; a shorter record gets the shortest of `BIN_CHOICES` that makes at most `MAX_BINS` bins (a 30-minute run
in 5-minute bins), and its counts are also given as a rate per hour.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.report.study import Study

HOUR = 3600.0
BIN_CHOICES = (60.0, 300.0, 900.0, HOUR)
MAX_BINS = 12


@dataclass(frozen=True)
class Timeline:
    bin_seconds: float
    starts: list[float]  # seconds from the first event at which each bin begins
    notes: dict[str, list[int]]  # model -> notes played in each bin
    feelings: dict[str, list[int]]  # model -> feelings named in each bin


def choose_bin(span: float) -> float:
    if span >= 6 * HOUR:
        return HOUR
    return next((b for b in BIN_CHOICES if span / b <= MAX_BINS), HOUR)


def timeline(study: Study) -> Timeline:
    start = study.first_time or 0.0
    span = (study.last_time or start) - start
    size = choose_bin(span)
    count = int(span // size) + 1
    notes: dict[str, list[int]] = {}
    feelings: dict[str, list[int]] = {}
    for model, agents in study.by_model().items():
        notes[model] = [0] * count
        feelings[model] = [0] * count
        for agent in agents:
            for note in agent.notes:
                notes[model][int((note.time - start) // size)] += 1
            for t in agent.feeling_times:
                feelings[model][int((t - start) // size)] += 1
    return Timeline(size, [i * size for i in range(count)], notes, feelings)
