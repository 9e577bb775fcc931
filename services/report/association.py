"""Colour and sound: does the colour active when a note was played tell anything about the note?

Four tests per model, on the notes of its agents (a note's colour is the tool colour in effect when it was
played, PROTOCOL.md section 4):

- colour ~ pitch and colour ~ velocity, by mutual information (bits) between the colour and the note's
  octave / velocity band. Its effect size is reported beside the mean MI of the permuted data: with few notes
  and many colours MI is biased upwards, and the permutation test, not the raw figure, says whether it is more
  than chance.
- brightness ~ pitch and brightness ~ velocity, by Spearman's rank correlation ρ between the colour's relative
  luminance (WCAG, from the palette's sRGB) and the note's MIDI number / velocity: "bright goes with high".

Each p-value is a permutation test that rotates each agent's colours against its own notes (see `_Null` for why a
rotation and not a shuffle). Where the model's agents have no more joint rotations than `permutations` (one agent
of n notes has n, identity included; several agents, rotated independently, the product of their n), every one is
tried and the p-value is exact; otherwise `permutations` joint rotations are drawn uniformly, identity included,
seeded (the same record gives the same report). The tests of a model that could be made are adjusted together with
Holm's method, so that where colour and sound are independent a model is found to associate them at most 5% of the
time (four unadjusted tests would do it nearly one time in five). The price is power with few notes: an exact test
of n rotations cannot give a p-value under 1/n, so one agent needs more than 80 notes before any of its four tests
can be found (Holm multiplies the smallest p by 4).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
from scipy import stats

from proto.ops.table import COLOURS
from services.report.draws import JointDraws
from services.report.study import Note

ALPHA = 0.05  # on Holm-adjusted p-values
MIN_NOTES = 20  # fewer notes than this are not tested
VELOCITY_BAND = 16  # velocities 1-16, 17-32, ... 113-127: eight bands


def _luminance(rgb: str) -> float:
    """WCAG relative luminance of an sRGB colour like #rrggbb: 0 (black) to 1 (white)."""
    channels = [int(rgb[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


BRIGHTNESS: dict[str, float] = {name: _luminance(c.rgb) for name, c in COLOURS.items()}
# Colours from dark to bright: the order of the heatmaps' rows.
BY_BRIGHTNESS: list[str] = sorted(COLOURS, key=BRIGHTNESS.__getitem__)


def octave(midi):
    return midi // 12 - 1  # MIDI 60 is C4; of an int or a numpy array


def velocity_band(velocity):
    return (velocity - 1) // VELOCITY_BAND


def velocity_band_label(band: int) -> str:
    return f"{band * VELOCITY_BAND + 1}-{min(127, (band + 1) * VELOCITY_BAND)}"


@dataclass(frozen=True)
class Association:
    name: str  # e.g. "colour ~ pitch"
    measure: str  # "MI (bits)" or "Spearman ρ"
    n: int
    effect: float | None  # None: not tested (see `why`)
    chance: float | None = None  # for MI: the mean MI of the permuted data
    p: float | None = None
    p_holm: float | None = None
    why: str | None = None  # why it was not tested (or, tested, why it could not have been found)
    floor: float | None = None  # the smallest p the test can give, where known (services/report/window_tests.py)

    @property
    def found(self) -> bool:
        return self.p_holm is not None and self.p_holm < ALPHA


@dataclass(frozen=True)
class ColourRow:
    colour: str
    notes: int
    mean_midi: float
    mean_velocity: float


@dataclass(frozen=True)
class ColourSound:
    notes: int
    tests: list[Association]
    rows: list[ColourRow]  # per colour that played a note, dark to bright
    octaves: list[int]  # the heatmap's columns
    by_octave: np.ndarray  # rows x octaves: notes
    bands: list[int]
    by_band: np.ndarray  # rows x velocity bands: notes


def colour_sound(sequences: Sequence[Sequence[Note]], *, permutations: int, seed: int = 0) -> ColourSound:
    """The colour-and-sound tests on a model's notes: `sequences` holds each of its agents' notes in the order
    played (the null rotates each agent's colours against its own notes; see `_Null`)."""
    notes = [n for seq in sequences for n in seq]
    colours = [c for c in BY_BRIGHTNESS if any(n.color == c for n in notes)]
    index = {c: i for i, c in enumerate(colours)}
    colour = np.array([index[n.color] for n in notes], dtype=np.int64)
    midi = np.array([n.midi for n in notes], dtype=np.int64)
    velocity = np.array([n.velocity for n in notes], dtype=np.int64)
    octaves = sorted({octave(m) for m in midi.tolist()})
    bands = sorted({velocity_band(v) for v in velocity.tolist()})
    octave_code = np.searchsorted(octaves, octave(midi))
    band_code = np.searchsorted(bands, velocity_band(velocity))
    brightness = np.array([BRIGHTNESS[colours[i]] for i in colour.tolist()])
    null = _Null([len(seq) for seq in sequences], permutations, seed)
    tests = [
        null.test("colour ~ pitch", "MI (bits)", colour, octave_code, mutual_information, two_sided=False),
        null.test("colour ~ velocity", "MI (bits)", colour, band_code, mutual_information, two_sided=False),
        null.test("brightness ~ pitch", "Spearman ρ", brightness, midi, _spearman, two_sided=True, ranks=True),
        null.test("brightness ~ velocity", "Spearman ρ", brightness, velocity, _spearman, two_sided=True, ranks=True),
    ]
    rows = [ColourRow(c, int((colour == i).sum()), float(midi[colour == i].mean()),
                      float(velocity[colour == i].mean())) for i, c in enumerate(colours)]
    return ColourSound(len(notes), holm(tests), rows, octaves, _table(colour, octave_code, len(colours), len(octaves)),
                       bands, _table(colour, band_code, len(colours), len(bands)))


def _table(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    return np.bincount(rows * n_cols + cols, minlength=n_rows * n_cols).reshape(n_rows, n_cols)


def _untestable(x: np.ndarray, y: np.ndarray) -> str | None:
    if len(x) < MIN_NOTES:
        return f"{len(x)} notes; at least {MIN_NOTES} are needed"
    if len(np.unique(x)) < 2:
        return "every note was played with one colour" if len(np.unique(x)) else "no notes"
    if len(np.unique(y)) < 2:
        return "every note has the same value"
    return None


def mutual_information(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """MI in bits between integer codes x and y (0..k-1) along the last axis, for every row of a batch at once."""
    x, y = np.broadcast_arrays(x, y)
    batch, n = x.shape[:-1], x.shape[-1]
    nx, ny = int(x.max()) + 1, int(y.max()) + 1
    rows = int(np.prod(batch, dtype=np.int64))
    joint_code = (x.reshape(rows, n) * ny + y.reshape(rows, n)) + (np.arange(rows) * nx * ny)[:, None]
    joint = np.bincount(joint_code.ravel(), minlength=rows * nx * ny).reshape(rows, nx, ny) / n
    px, py = joint.sum(axis=2, keepdims=True), joint.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log2(joint / (px * py)), 0.0)
    return terms.sum(axis=(1, 2)).reshape(batch)


def _spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r along the last axis, for every row of a batch at once; of ranks, it is Spearman's ρ."""
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    return (x * y).sum(axis=-1) / np.sqrt((x * x).sum(axis=-1) * (y * y).sum(axis=-1))


class _Null:
    """The null distribution of "the colour tells nothing about the note": each agent's sequence of colours
    rotated against its own notes (a circular-shift test). Notes are not independent: a model keeps a colour for
    many notes and its pitch drifts slowly, so shuffling notes one by one would find "an association" in most
    runs where there is none; a rotation keeps both sequences' own structure and breaks only their alignment.

    The reference set is the group of joint rotations: each agent of n notes is shifted by its own 0..n-1,
    independently of the others, so there are prod(n) of them, the identity (the data as played) among them.
    The product and not the largest n: every combination of shifts is as likely under the null. If there are
    no more than `count`, every one is enumerated (`exact`); otherwise `count` are drawn uniformly from the
    whole group, identity included. (Leaving the identity out, as this once did, made p-values too small with
    few notes: with 20 rotations the smallest honest p is 1/20, yet 2,000 draws from the other 19 gave 1/2001.)
    Every test of a model uses the same rotations (seeded), made in batches of bounded size, so memory stays
    flat however long the record."""

    BATCH = 4_000_000  # index elements per batch: 32 MB

    def __init__(self, lengths: list[int], count: int, seed: int):
        self.lengths = [n for n in lengths if n]
        self.draws = JointDraws(self.lengths, count, seed)
        self.exact, self.size = self.draws.exact, self.draws.size

    def _batches(self):
        total = sum(self.lengths)
        for shifts in self.draws.batches(self.BATCH // max(total, 1)):
            index = np.empty((len(shifts), total), dtype=np.int64)
            start = 0
            for g, n in enumerate(self.lengths):
                index[:, start:start + n] = start + (np.arange(n)[None, :] + shifts[:, g, None]) % n
                start += n
            yield index

    def test(self, name: str, measure: str, colour: np.ndarray, other: np.ndarray, statistic: Callable, *,
             two_sided: bool, ranks: bool = False) -> Association:
        why = _untestable(colour, other)
        if why:
            return Association(name, measure, len(colour), None, why=why)
        if ranks:
            colour, other = stats.rankdata(colour), stats.rankdata(other)  # ties get their mean rank
        observed = float(statistic(colour, other))
        null = np.concatenate([statistic(colour[index], other) for index in self._batches()])
        p = self.draws.p_value(observed, null, two_sided=two_sided)
        return Association(name, measure, len(colour), observed, None if two_sided else float(null.mean()), p)


def holm(tests: list[Association]) -> list[Association]:
    """The tests with `p_holm`: Holm's step-down adjustment over those that were tested."""
    tested = sorted((t.p, i) for i, t in enumerate(tests) if t.p is not None)
    adjusted: dict[int, float] = {}
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return [replace(t, p_holm=adjusted.get(i)) for i, t in enumerate(tests)]
