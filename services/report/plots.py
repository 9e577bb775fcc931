"""The report's figures, drawn with matplotlib (no display needed: the Agg backend), each as a PNG's bytes."""

from __future__ import annotations

import io
from collections import Counter

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window
matplotlib.rcParams["text.parse_math"] = False  # a model's name is text, even with a $ in it

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from proto.ops.table import COLOURS  # noqa: E402
from services.report.association import ColourSound, velocity_band_label  # noqa: E402
from services.report.timeline import Timeline  # noqa: E402

DPI = 100
TOP_EMOTIONS = 12


def _png(fig) -> bytes:
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, dpi=DPI, format="png")
    plt.close(fig)
    return out.getvalue()


def colour_sound(model: str, cs: ColourSound) -> bytes:
    """Two heatmaps: each colour's notes spread over octaves and over velocity bands (rows sum to 1)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.35 * len(cs.rows) + 2))
    colours = [row.colour for row in cs.rows]
    panels = ((axes[0], cs.by_octave, [str(o) for o in cs.octaves], "octave"),
              (axes[1], cs.by_band, [velocity_band_label(b) for b in cs.bands], "velocity"))
    for ax, table, labels, what in panels:
        share = table / np.maximum(table.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(share, aspect="auto", cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), labels, rotation=45 if what == "velocity" else 0)
        ax.set_yticks(range(len(colours)), [f"{c} ({n})" for c, n in zip(colours, table.sum(axis=1))])
        for tick, colour in zip(ax.get_yticklabels(), colours):
            tick.set_color(COLOURS[colour].rgb if colour not in ("white", "yellow") else "#777777")
        ax.set_xlabel(what)
        ax.set_title(f"share of each colour's notes by {what}")
        fig.colorbar(image, ax=ax, fraction=0.04)
    fig.suptitle(f"{model}: colour active when a note was played (dark to bright, notes in brackets)")
    return _png(fig)


def emotions(lexicons: dict[str, Counter]) -> bytes:
    """The emotions each model named most, one panel per model."""
    fig, axes = plt.subplots(1, len(lexicons), figsize=(4.5 * len(lexicons), 4.5), squeeze=False)
    for ax, (model, lexicon) in zip(axes[0], lexicons.items()):
        top = lexicon.most_common(TOP_EMOTIONS)[::-1]
        ax.barh([w for w, _ in top], [n for _, n in top], color="#5b6bbf")
        ax.set_title(f"{model}: {len(lexicon)} distinct")
        ax.set_xlabel("times named")
    return _png(fig)


def over_time(tl: Timeline) -> bytes:
    """Notes and feelings per bin, a line per model."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    minutes = [s / 60 for s in tl.starts]
    for ax, series, what in ((axes[0], tl.notes, "notes"), (axes[1], tl.feelings, "feelings named")):
        for model, counts in series.items():
            ax.plot(minutes, counts, marker="o", label=model)
        ax.set_xlabel("minutes from the first event")
        ax.set_ylabel(f"{what} per {tl.bin_seconds / 60:g} minutes")
        ax.set_title(what)
        ax.legend(fontsize="small")
    return _png(fig)


def colours_painted(painted: dict[str, Counter]) -> bytes:
    """Cells painted per colour, one row of bars per agent, each bar in its colour."""
    fig, axes = plt.subplots(len(painted), 1, figsize=(8, 1.8 * len(painted) + 0.5), squeeze=False)
    for ax, (agent, counts) in zip(axes[:, 0], painted.items()):
        names = [c for c in COLOURS if counts.get(c)]
        ax.bar(names, [counts[c] for c in names], color=[COLOURS[c].rgb for c in names], edgecolor="#333333")
        ax.set_title(f"{agent}: cells painted per colour")
        ax.tick_params(axis="x", labelrotation=45)
    return _png(fig)
