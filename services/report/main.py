"""`aurora report [--out DIR] [--beside EXPORT]`: the study of the record, as DIR/report.md, report.html,
report.json and PNG plots.

The record is read as it is when the command starts (a running studio's later events wait for the next
report). By default DIR is <data>/report, which the gateway serves at /report. A salon run's report has a Modes
section (services/report/modes.py); `--beside` adds another run to it, read from its `aurora export` folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

import redis

from proto.messages import MODES
from proto.names import name_problem
from services.base.datadir import report_dir
from services.recorder import archive
from services.report.exported import ExportedEvents, NoExport
from services.report.salon import INFLUENCE_MINUTES as MINUTES, INFLUENCE_WORKS as WORKS, RunFacts
from services.report.study import Study, read_study
from services.report.timeline import timeline
from services.tools import record

GALLERY = 6  # latest works per agent shown as pictures
PERMUTATIONS = 2000  # shuffles per permutation test: a p-value near 0.05 is then known to about ±0.005
WINDOW_MINUTES = 5.0  # the modes section's windows: a 30-minute run has 6, the fewest a trend can be found in


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="the study: what each model did, felt and heard (Markdown, HTML, plots)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="the folder to write (default <data>/report, which the gateway serves at /report)")
    p.add_argument("--permutations", type=record.positive_int, default=PERMUTATIONS, metavar="N",
                   help=f"shuffles per permutation test (default {PERMUTATIONS})")
    p.add_argument("--seed", type=int, default=0, help="seed of the permutation tests (default 0)")
    p.add_argument("--progress-every", type=record.positive_int, default=50_000, metavar="N",
                   help="a progress line on stderr every N events (default 50000)")
    p.add_argument("--beside", type=Path, default=None, metavar="EXPORT",
                   help="another run to compare with in the Modes section (say, the isolated run of the same roster "
                        "beside this salon run): the folder `aurora export EXPORT` wrote from that run's data, or its "
                        "events.jsonl")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="this record's studio mode, where its events do not show it (a run without any salon event "
                        "or salon refusal); a mode its events contradict is refused")
    p.add_argument("--beside-mode", choices=MODES, default=None, help="the same for the --beside run")
    p.add_argument("--window-minutes", type=float, default=WINDOW_MINUTES, metavar="M",
                   help=f"the Modes section's time windows (default {WINDOW_MINUTES:g}: a 30-minute run has 6)")
    p.add_argument("--influence-works", type=record.positive_int, default=WORKS, metavar="K",
                   help=f"the salon's influence test pairs each post read with the reader's next K finished works "
                        f"(default {WORKS})")
    p.add_argument("--influence-minutes", type=float, default=MINUTES, metavar="M",
                   help=f"... that it finished within M minutes of the read (default {MINUTES:g})")
    record.add_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for flag, value in (("--window-minutes", args.window_minutes), ("--influence-minutes", args.influence_minutes)):
        if not value > 0:
            print(f"aurora report: {flag} must be more than 0", file=sys.stderr)
            return 2
    beside = None
    if args.beside is not None:
        try:
            beside = ExportedEvents(args.beside)
        except NoExport as exc:
            print(f"aurora report: {exc}", file=sys.stderr)
            return 2
    return record.run_with_record("report", args, lambda client: report(client, args, beside))


def _events(r: redis.Redis, last: int, every: int, corrupt: record.CorruptReport, facts: RunFacts):
    for i, msg in enumerate(archive.iter_events(r, end=last, on_corrupt=corrupt), 1):
        if i % every == 0:
            print(f"aurora report: read {i} events of {last}", file=sys.stderr)
        facts.see(msg)
        yield msg


def _modes(args: argparse.Namespace, facts: RunFacts, beside: ExportedEvents | None) -> dict | None:
    """The Modes section's figures: this run's (a salon run's, or any beside another) and the beside run's;
    None for a lone isolated run. Raises ValueError where a mode given contradicts the events."""
    from services.report import modes  # see report()

    mode, how = modes.mode_of(facts, args.mode)
    if beside is None and mode != "salon":
        return None
    influence = {"influence_works": args.influence_works, "influence_minutes": args.influence_minutes}
    runs = [modes.run_figures("this record", facts, mode, how, permutations=args.permutations, seed=args.seed,
                              **influence)]
    if beside is not None:
        other = RunFacts(args.window_minutes * 60)
        for msg in beside:
            other.see(msg)
        other.unreadable += beside.bad
        mode, how = modes.mode_of(other, args.beside_mode)
        runs.append(modes.run_figures(f"beside: {args.beside.name}", other, mode, how,
                                      permutations=args.permutations, seed=args.seed, **influence))
    return modes.figures(runs, permutations=args.permutations, seed=args.seed)


def report(r: redis.Redis, args: argparse.Namespace, beside: ExportedEvents | None = None) -> int:
    # scipy and matplotlib take seconds to import: only this command loads them, not every `aurora` process.
    from services.report import association, document

    out: Path = args.out or report_dir()
    for folder in (out / "plots", out / "works"):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.png"):  # a previous report's pictures: not this one's
            stale.unlink()
    corrupt = record.CorruptReport("report")
    last = archive.last_seq(r)
    facts = RunFacts(args.window_minutes * 60)
    study = read_study(_events(r, last, args.progress_every, corrupt, facts))
    try:
        compared = _modes(args, facts, beside)
    except ValueError as exc:
        print(f"aurora report: {exc}", file=sys.stderr)
        return 2
    undecodable = corrupt.count
    groups = study.by_model()
    print(f"aurora report: {study.events} events of {len(study.agents)} agents read; testing colour and sound",
          file=sys.stderr)
    colour_sound = {model: association.colour_sound([a.notes for a in agents],
                                                    permutations=args.permutations, seed=args.seed)
                    for model, agents in groups.items()}
    tl = timeline(study)
    drawn = _draw(study, colour_sound, tl, out) if study.agents else {}
    gallery = _gallery(r, study, out, corrupt)
    figures = document.figures(study, colour_sound, tl, command=_command_line(), plots=drawn, works=gallery,
                               permutations=args.permutations, undecodable=undecodable, modes=compared)
    text = document.markdown(figures)
    write_atomically(out / "report.json", json.dumps(figures, indent=1) + "\n")
    write_atomically(out / "report.md", text + "\n")
    write_atomically(out / "report.html", document.to_html(text))  # last: the gateway serves it once it is whole
    print(f"aurora report: wrote {out}/report.md, report.html, report.json and {len(drawn)} plots", file=sys.stderr)
    return 0


def _command_line() -> str:
    """The command as typed, for the report's first line."""
    words = sys.argv[1:] if sys.argv[1:2] == ["report"] else ["report"]
    return "aurora " + shlex.join(words)


def _draw(study: Study, colour_sound: dict, tl, out: Path) -> dict[str, str]:
    """The plots, by name -> path relative to `out`."""
    from services.report import plots  # see report()

    drawn: dict[str, str] = {}

    def draw(name: str, file: str, png: bytes) -> None:
        write_atomically(out / "plots" / file, png)
        drawn[name] = f"plots/{file}"

    lexicons = study.lexicons()
    if any(lexicons.values()):
        draw("emotions", "emotions.png", plots.emotions(lexicons))
    draw("over-time", "over-time.png", plots.over_time(tl))
    painted = {a.name: a.painted for a in study.by_name() if a.painted}
    if painted:
        draw("colours", "colours.png", plots.colours_painted(painted))
    for i, (model, cs) in enumerate(colour_sound.items()):
        if cs.rows:
            draw(f"colour-sound:{model}", f"colour-sound-{i + 1}.png", plots.colour_sound(model, cs))
    return drawn


def _gallery(r: redis.Redis, study: Study, out: Path, corrupt: record.CorruptReport) -> dict[str, list]:
    """The latest finished works of each agent as PNGs in out/works: agent -> [(work, path)]."""
    gallery: dict[str, list] = {}
    for agent in study.by_name():
        if name_problem(agent.name):
            continue  # not a name the canvas lets in (a foreign record): never part of a file's name
        for work in agent.works[-GALLERY:]:
            key = archive.work_key(agent.name, work.work)
            png = r.hget(key, "png")
            if not png:
                corrupt(key, "png", "no picture of this work")
                continue
            path = out / "works" / f"{agent.name}-{work.work}.png"
            write_atomically(path, png)
            gallery.setdefault(agent.name, []).append((work.work, str(path.relative_to(out))))
    return gallery


def write_atomically(path: Path, data: bytes | str) -> None:
    """Whole or not at all: the gateway may serve the file while a new report is written."""
    part = path.with_name(path.name + ".part")
    part.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(part, path)
