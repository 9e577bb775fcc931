"""The report's text: the figures of a `Study` as Markdown, as HTML (the same Markdown rendered), and as JSON.

`figures(...)` gathers every number the report states into one plain dict (written as report.json);
`markdown(...)` writes the document from that dict alone, so the two can never disagree.
"""

from __future__ import annotations

import html
import time
from typing import Any

import markdown as md

from proto.canvas import CanvasModel
from services.report import authenticity, modes as modes_section
from services.report.association import ALPHA, ColourSound, velocity_band_label
from services.report.markup import num, pct, table as _table, text
from services.report.study import AgentStudy, Study, coverage, mean_coverage, rejected_share
from services.report.timeline import HOUR, Timeline

TOP_PER_AGENT = 15  # feelings listed per agent (report.json has every one)
WORKS_LISTED = 40  # latest works listed per agent (report.json has every one)


def _hours(agents: list[AgentStudy]) -> float:
    return sum((a.last_time - a.first_time) for a in agents if a.first_time is not None) / HOUR


def _rate(count: int, hours: float) -> float | None:
    return round(count / hours, 1) if hours > 0 else None


def _agent_figures(a: AgentStudy, canvas: CanvasModel | None) -> dict[str, Any]:
    return {
        "model": a.model,
        "models": a.models,
        "decisions": a.decisions,
        "ops_applied": a.ops_applied,
        "ops_rejected": a.ops_rejected,
        "rejected_share": a.rejected_share,
        "notes": len(a.notes),
        "notes_per_hour": _rate(len(a.notes), _hours([a])),
        "feelings_named": sum(a.feelings.values()),
        "distinct_emotions": len(a.feelings),
        "lexicon": dict(a.feelings.most_common()),
        "painted": dict(a.painted.most_common()),
        "colours_used": len(a.painted),
        "works_finished": len(a.works),
        "mean_coverage": a.mean_coverage,
        "current_coverage": coverage(canvas.rows()) if canvas is not None else None,
        "works": [{"work": w.work, "title": w.title, "statement": w.statement, "coverage": w.coverage,
                   "done_seq": w.done_seq} for w in a.works],
    }


def _colour_sound_figures(cs: ColourSound) -> dict[str, Any]:
    return {
        "notes": cs.notes,
        "tests": [{"name": t.name, "measure": t.measure, "n": t.n, "effect": t.effect, "chance": t.chance,
                   "p": t.p, "p_holm": t.p_holm, "found": t.found, "why": t.why} for t in cs.tests],
        "colours": [{"colour": r.colour, "notes": r.notes, "mean_midi": r.mean_midi,
                     "mean_velocity": r.mean_velocity} for r in cs.rows],
        "octaves": cs.octaves,
        "by_octave": cs.by_octave.tolist(),
        "velocity_bands": [velocity_band_label(b) for b in cs.bands],
        "by_velocity_band": cs.by_band.tolist(),
    }


def figures(study: Study, colour_sound: dict[str, ColourSound], tl: Timeline, *, command: str,
            plots: dict[str, str], works: dict[str, list[tuple[int, str]]], permutations: int,
            undecodable: int = 0, modes: dict[str, Any] | None = None) -> dict[str, Any]:
    groups = study.by_model()
    lexicons = study.lexicons()
    everyone = set().union(*lexicons.values()) if lexicons else set()
    only = {m: sorted(w for w in lex if all(w not in other for o, other in lexicons.items() if o != m))
            for m, lex in lexicons.items()}
    models = {}
    for model, agents in groups.items():
        rejected, applied = sum(a.ops_rejected for a in agents), sum(a.ops_applied for a in agents)
        finished = [w for a in agents for w in a.works]
        notes = sum(len(a.notes) for a in agents)
        models[model] = {
            "agents": [a.name for a in agents],
            "decisions": sum(a.decisions for a in agents),
            "ops_applied": applied,
            "ops_rejected": rejected,
            "rejected_share": rejected_share(applied, rejected),
            "notes": notes,
            "notes_per_hour": _rate(notes, _hours(agents)),
            "feelings_named": sum(lexicons[model].values()),
            "distinct_emotions": len(lexicons[model]),
            "only_this_model": only[model],
            "top_emotions": lexicons[model].most_common(5),
            "works_finished": len(finished),
            "mean_coverage": mean_coverage(finished),
            "colour_sound": _colour_sound_figures(colour_sound[model]),
        }
    return {
        "command": command,
        "made": _when(time.time()),
        "record": {"first_seq": study.first_seq, "last_seq": study.last_seq, "events": study.events,
                   "first_time": study.first_time, "last_time": study.last_time,
                   "hours": ((study.last_time or 0) - (study.first_time or 0)) / HOUR,
                   "undecodable": undecodable,  # entries that are no event (reported on stderr with key and ID)
                   "unreadable": [{"seq": s, "reason": r} for s, r in study.unreadable]},
        "distinct_emotions": len(everyone),
        "models": models,
        "agents": {a.name: _agent_figures(a, study.canvases.get(a.name)) for a in study.by_name()},
        "timeline": {"bin_seconds": tl.bin_seconds, "starts": tl.starts, "notes": tl.notes, "feelings": tl.feelings},
        "permutations": permutations,
        "alpha": ALPHA,
        "plots": plots,
        "gallery": works,
        "authenticity": authenticity.figures(study),
        "modes": modes,  # None: a lone isolated run (services/report/modes.py)
    }


# -- Markdown ---------------------------------------------------------------------------------------------------


def p_value(p: float | None) -> str:
    return "–" if p is None else f"{p:.4f}"


def _when(t: float | None) -> str:
    return "–" if t is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def markdown(f: dict[str, Any]) -> str:
    rec, models = f["record"], f["models"]
    command = f["command"].replace("`", "'")
    out = ["# Aurora study report", "",
           f"Made {f['made']} by `{command}` from the record's events {rec['first_seq']} to {rec['last_seq']} "
           f"({rec['events']} read, {_when(rec['first_time'])} to {_when(rec['last_time'])}, "
           f"{rec['hours']:.2f} hours). Every figure below is in `report.json` beside this file.", ""]
    if rec["undecodable"] or rec["unreadable"]:
        out += [f"Left out: {rec['undecodable']} entries of the record that are no event (said with their key and ID "
                f"when the report was made) and {len(rec['unreadable'])} events that lack what their kind needs "
                "(listed in report.json).", ""]
    out += _models_section(f)
    out += _emotions_section(f)
    out += authenticity.markdown(f["authenticity"])
    out += _colour_sound_section(f)
    out += _timeline_section(f)
    if f.get("modes"):
        out += modes_section.markdown(f["modes"])
    for name, a in f["agents"].items():
        out += _agent_section(name, a, f["plots"], f["gallery"].get(name, []))
    out += ["## How the figures are made", "",
            "- A **decision** is one answer of an agent that reached the canvas with at least one line (its "
            "events share a parent id). **Ops rejected** are lines the canvas refused; the share is of all lines.",
            "- **Coverage** is the share of a finished work's cells that are painted.",
            "- **Notes per hour** counts each agent's hours from its first to its last event.",
            "- **Colour and sound**: see the section's own notes. Models are told nothing about colour and sound; "
            "what is found is theirs.", ""]
    if not models:
        out += ["The record holds no agent's events yet.", ""]
    return "\n".join(out)


def _models_section(f: dict[str, Any]) -> list[str]:
    models = f["models"]
    names = list(models)
    rows = [
        ["agents", *(", ".join(m["agents"]) for m in models.values())],
        ["decisions", *(m["decisions"] for m in models.values())],
        ["ops applied", *(m["ops_applied"] for m in models.values())],
        ["ops rejected", *(f"{m['ops_rejected']} ({pct(m['rejected_share'])})" for m in models.values())],
        ["notes played", *(m["notes"] for m in models.values())],
        ["notes per hour", *(num(m["notes_per_hour"], 1) for m in models.values())],
        ["feelings named", *(m["feelings_named"] for m in models.values())],
        ["distinct feelings", *(m["distinct_emotions"] for m in models.values())],
        ["feelings only this model named", *(len(m["only_this_model"]) for m in models.values())],
        ["top feelings", *(", ".join(f"{w} ({n})" for w, n in m["top_emotions"]) or "–" for m in models.values())],
        ["works finished", *(m["works_finished"] for m in models.values())],
        ["mean coverage of finished works", *(pct(m["mean_coverage"]) for m in models.values())],
    ]
    return ["## Models side by side", "", *_table(["", *names], rows)]


def _emotions_section(f: dict[str, Any]) -> list[str]:
    out = ["## Feelings", "", f"The studio named **{f['distinct_emotions']}** distinct feelings in all (the words of "
           "`feel` ops; which of them are emotion words is under Authenticity).", ""]
    for model, m in f["models"].items():
        words = ", ".join(text(w) for w in m["only_this_model"]) or "none"
        out += [f"- Only **{text(model)}** named ({len(m['only_this_model'])}): {words}"]
    if "emotions" in f["plots"]:
        out += ["", f"![The feelings each model named most]({f['plots']['emotions']})"]
    return out + [""]


def _colour_sound_section(f: dict[str, Any]) -> list[str]:
    out = ["## Colour and sound", "",
           "For each model: does the colour active when a note was played tell anything about its pitch and "
           "velocity? Mutual information (MI, bits) between the colour and the note's octave / velocity band "
           "(beside it, the mean MI of the permuted data: MI's bias with these many notes); Spearman's ρ between "
           "the colour's brightness (WCAG relative luminance) and the note's MIDI pitch / velocity. p-values are "
           f"permutation tests: {f['permutations']} random rotations of each agent's colours against its own "
           "notes, seeded (a rotation, not a shuffle: a model keeps a colour for many notes and its pitch drifts, "
           "which a shuffle of single notes would take for an association). They are Holm-adjusted over the "
           f"model's tests that could be made; *found* means adjusted p < {f['alpha']}.", ""]
    for model, m in f["models"].items():
        cs = m["colour_sound"]
        out += [f"### {text(model)} ({cs['notes']} notes)", ""]
        rows = []
        for t in cs["tests"]:
            if t["effect"] is None:
                rows.append([t["name"], t["measure"], t["n"], "–", "–", "–", f"not tested: {t['why']}"])
                continue
            effect = num(t["effect"]) + (f" (chance {num(t['chance'])})" if t["chance"] is not None else "")
            verdict = "found" if t["found"] else "none found"
            if t["found"] and t["measure"].startswith("Spearman"):
                verdict += " (brighter, higher)" if t["effect"] > 0 else " (brighter, lower)"
            rows.append([t["name"], t["measure"], t["n"], effect, p_value(t["p"]), p_value(t["p_holm"]), verdict])
        out += _table(["test", "measure", "notes", "effect", "p", "p (Holm)", "verdict"], rows)
        if cs["colours"]:
            out += _table(["colour", "notes", "mean MIDI pitch", "mean velocity"],
                          [[c["colour"], c["notes"], num(c["mean_midi"], 1), num(c["mean_velocity"], 1)]
                           for c in cs["colours"]])
        plot = f["plots"].get(f"colour-sound:{model}")
        if plot:
            out += [f"![{text(model)}: colour against octave and velocity]({plot})", ""]
    return out


def _timeline_section(f: dict[str, Any]) -> list[str]:
    tl = f["timeline"]
    size = tl["bin_seconds"]
    label = {HOUR: "hour", 60.0: "minute"}.get(size, f"{size / 60:g} minutes")
    out = ["## Over time", "",
           f"Notes played and feelings named in each {label} from the first event"
           + ("" if size == HOUR else f" (× {HOUR / size:g} for a rate per hour)") + ".", ""]
    header = ["from (min)", *(f"{m}: notes" for m in tl["notes"]), *(f"{m}: feelings" for m in tl["feelings"])]
    rows = [[f"{start / 60:g}", *(tl["notes"][m][i] for m in tl["notes"]),
             *(tl["feelings"][m][i] for m in tl["feelings"])] for i, start in enumerate(tl["starts"])]
    out += _table(header, rows)
    if "over-time" in f["plots"]:
        out += [f"![Notes and feelings over time]({f['plots']['over-time']})", ""]
    return out


def _agent_section(name: str, a: dict[str, Any], plots: dict[str, str], gallery: list[tuple[int, str]]) -> list[str]:
    models = text(a["model"]) + ("" if len(a["models"]) < 2 else
                                 f" (before: {', '.join(text(m) for m in a['models'][:-1])})")
    out = [f"## Agent {text(name)}", "",
           f"Model {models}. {a['decisions']} decisions; {a['ops_applied']} ops applied, {a['ops_rejected']} "
           f"rejected ({pct(a['rejected_share'])}); {a['notes']} notes ({num(a['notes_per_hour'], 1)} per hour); "
           f"{a['feelings_named']} feelings named, {a['distinct_emotions']} distinct; {a['colours_used']} colours "
           f"painted; {a['works_finished']} works finished, mean coverage {pct(a['mean_coverage'])}; the canvas "
           f"it is painting now is {pct(a['current_coverage'])} covered.", ""]
    if a["lexicon"]:
        top = list(a["lexicon"].items())[:TOP_PER_AGENT]
        out += [f"Feelings named most (of {a['distinct_emotions']}):", "",
                *_table(["feeling", "times"], [[w, n] for w, n in top])]
    if a["painted"]:
        out += _table(["colour", "cells painted"], [[c, n] for c, n in a["painted"].items()])
    works = a["works"]
    if works:
        shown = works[-WORKS_LISTED:]
        intro = "Works finished" + (f" (the last {len(shown)} of {len(works)})" if len(shown) < len(works) else "")
        out += [f"{intro}:", "",
                *_table(["work", "title", "coverage", "statement"],
                        [[w["work"], w["title"] or "(untitled)", pct(w["coverage"]), w["statement"] or ""]
                         for w in shown])]
    if gallery:
        out += [" ".join(f"![{text(name)} work {work}]({path})" for work, path in gallery), ""]
    return out


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1rem; display: block; overflow-x: auto; }}
th, td {{ border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }}
img {{ max-width: 100%; image-rendering: pixelated; }}
code {{ background: #f3f3f3; padding: 0 0.2rem; }}
</style></head><body>
{body}
</body></html>
"""


def to_html(text: str) -> str:
    return PAGE.format(title=html.escape("Aurora study report"), body=md.markdown(text, extensions=["tables"]))
