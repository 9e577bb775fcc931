"""How much of what each model made is its own (`aurora report`, report.json's `authenticity`).

Read from what `services.report.study` gathers in its one pass over the events, per agent and per model (a
model's figures are its agents' counts added up, then divided; never a mean of shares):

- works finished, the share that are blank (coverage 0), and distinct titles per work;
- the share of titles, statements, `remember` notes and dreams that copy their prompt: each agent publishes an
  `echo` event beside each text it generates, with the longest run of consecutive words the text shares with
  the prompt it came from; a text copies its prompt when that run is at least COPY_RUN_WORDS words. Since the
  prompt holds the agent's own earlier words too (its memory, its work's title), the echo also says the run
  shared with the studio's words alone (`studio_words`), so that repeating itself can be told from copying
  what the studio wrote (`of_studio`);
- feelings that are dictionary words and emotion words, against the lexicon of `services.report.emotions`;
- the most common colours (colour op choices) and pitches (notes played) beside a uniform choice (ties in
  alphabetical order);
- per list of the manual, the share of choices that were the first item of the agent's own list (each agent's
  lists are shuffled with its seed and named in its `joined` event) beside a uniform choice, 1 / the list's
  length. Records made before lists or echoes existed report those figures as unknown (None).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from proto.ops.manual import LIST_NAMES, choice_lists
from proto.ops.table import ACCIDENTALS, COLOURS, OCTAVES, PITCH_LETTERS
from services.report import emotions
from services.report.markup import num, pct, table, text
from proto.messages import ECHO_OF
from services.report.study import AgentStudy, Study

COPY_RUN_WORDS = 5  # a text copies its prompt when it shares a run of at least this many consecutive words
COPIED_RUNS_LISTED = 5  # the most frequent copied runs listed per model and agent
TOP_LISTED = 10  # colours and pitches listed per model and agent
PITCH_SPELLINGS = len(PITCH_LETTERS) * len(ACCIDENTALS) * len(OCTAVES)  # every pitch the language can write
LIST_LENGTHS = {name: len(items) for name, items in choice_lists().items()}
TEXTS = {"title": "titles", "statement": "statements", "remember": "remember notes", "dream": "dreams"}


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def lexicon() -> dict[str, Any]:
    """The emotion lexicon's `lexicon_info()`, or {"error": why} where it cannot be read (the report is still
    made; its emotion figures are then None)."""
    try:
        return emotions.lexicon_info()
    except ValueError as exc:  # emotions.LexiconError: not installed, unreadable, or no word in it
        return {"error": str(exc)}


def figures(study: Study) -> dict[str, Any]:
    lex = lexicon()
    classify = "error" not in lex
    return {
        "copy_run_words": COPY_RUN_WORDS,
        "lexicon": lex,
        "baselines": {
            "colour": 1 / len(COLOURS),
            "colours": len(COLOURS),
            "pitch": 1 / PITCH_SPELLINGS,
            "pitches": PITCH_SPELLINGS,
            "pitches_are": f"{len(PITCH_LETTERS)} letters × {len(ACCIDENTALS)} accidentals (none, #, b) × "
                           f"{len(OCTAVES)} octaves",
            "first_listed": {name: 1 / LIST_LENGTHS[name] for name in LIST_NAMES},
        },
        "models": {model: of_agents(agents, classify) for model, agents in study.by_model().items()},
        "agents": {a.name: of_agents([a], classify) for a in study.by_name()},
    }


def of_agents(agents: list[AgentStudy], classify: bool = True) -> dict[str, Any]:
    """The figures of one agent, or of a model's agents taken together (`classify`: with the emotion lexicon)."""
    works = [w for a in agents for w in a.works]
    titles = {w.title for w in works if w.title is not None}
    blank = sum(1 for w in works if w.coverage == 0)
    echoes = [e for a in agents for e in a.echoes]
    copied = Counter(e.run for e in echoes if e.words >= COPY_RUN_WORDS)
    copies = {}
    for of in ECHO_OF:
        mine = [e for e in echoes if e.of == of]
        k = sum(1 for e in mine if e.words >= COPY_RUN_WORDS)
        split = [e for e in mine if e.studio_words is not None]  # echoes that tell the studio's words apart
        studio = sum(1 for e in split if e.studio_words >= COPY_RUN_WORDS)
        copies[of] = {"n": len(mine), "copies": k, "share": share(k, len(mine)),
                      "of_studio": {"n": len(split), "copies": studio, "share": share(studio, len(split))}}
    colours = sum((a.choices.get("colour", Counter()) for a in agents), Counter())
    pitches = sum((a.pitches for a in agents), Counter())
    first_listed = {}
    for name in LIST_NAMES:
        made = sum(sum(a.choices.get(name, Counter()).values()) for a in agents)
        known, first = sum(a.known[name] for a in agents), sum(a.first[name] for a in agents)
        first_listed[name] = {"choices": made, "known": known, "first": first, "share": share(first, known),
                              "baseline": 1 / LIST_LENGTHS[name]}
    decisions = sum(a.decisions for a in agents)
    repeated = sum(a.repeated_decisions for a in agents)
    return {
        "decisions": decisions,
        "repeated_decisions": repeated,  # the decision before it again, op for op
        "repeated_share": share(repeated, decisions),
        "works_finished": len(works),
        "blank_works": blank,
        "blank_share": share(blank, len(works)),
        "empty_works_refused": sum(a.refused["empty_work"] for a in agents),  # `done` on a blank canvas
        "distinct_titles": len(titles),
        "untitled_works": sum(1 for w in works if w.title is None),
        "titles_asked": sum(a.asked_titles for a in agents),  # works ended by a bare `done`: the studio asked
        "distinct_titles_per_work": share(len(titles), len(works)),
        "copies": copies,
        "copied_runs": [[run, n] for run, n in most_common(copied, COPIED_RUNS_LISTED)],
        "feelings": _feelings(sum((a.feelings for a in agents), Counter()), classify),
        "colours": {"chosen": sum(colours.values()), "top": _top(colours, "colour")},
        "pitches": {"played": sum(pitches.values()), "top": _top(pitches, "pitch")},
        "first_listed": first_listed,
    }


def most_common(counts: Counter, n: int) -> list[tuple[str, int]]:
    """The `n` most common, ties in alphabetical order (so that a reader of the log finds the same)."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def _top(counts: Counter, key: str) -> list[dict[str, Any]]:
    total = sum(counts.values())
    return [{key: item, "times": n, "share": n / total} for item, n in most_common(counts, TOP_LISTED)]


def _feelings(named: Counter, classify: bool) -> dict[str, Any]:
    total = sum(named.values())
    dictionary = sum(n for w, n in named.items() if emotions.is_dictionary_word(w))
    if not classify:
        return {"named": total, "dictionary_words_named": dictionary, "dictionary_share": share(dictionary, total),
                "emotion_words_named": None, "emotion_share": None, "distinct_emotion_words": None,
                "distinct_other_words": None, "categories": {}}
    emotion_words = {w: n for w, n in named.items() if emotions.is_emotion(w)}
    categories: dict[str, dict[str, int]] = {}
    for word, n in emotion_words.items():
        for category in emotions.categories(word):
            c = categories.setdefault(category, {"words": 0, "named": 0})
            c["words"] += 1
            c["named"] += n
    return {
        "named": total,
        "dictionary_words_named": dictionary,
        "dictionary_share": share(dictionary, total),
        "emotion_words_named": sum(emotion_words.values()),
        "emotion_share": share(sum(emotion_words.values()), total),
        "distinct_emotion_words": len(emotion_words),
        "distinct_other_words": len(named) - len(emotion_words),
        "categories": dict(sorted(categories.items(), key=lambda kv: (-kv[1]["named"], kv[0]))),
    }


# -- Markdown ---------------------------------------------------------------------------------------------------


def _count(n: int | None) -> str:
    return "–" if n is None else str(n)


def _copies(c: dict[str, Any]) -> str:
    return "unknown (no echo events)" if not c["n"] else f"{c['copies']} of {c['n']} ({pct(c['share'])})"


def _first(f: dict[str, Any]) -> str:
    if not f["known"]:
        n = f["choices"]
        return f"unknown ({n} choice{'' if n == 1 else 's'}, lists not recorded)" if n else "–"
    return f"{pct(f['share'])} of {f['known']} (chance {pct(f['baseline'])})"


def _rows(columns: list[dict[str, Any]], words: int) -> list[list[Any]]:
    rows = [
        ["works finished", *(c["works_finished"] for c in columns)],
        ["blank works (coverage 0)", *(f"{c['blank_works']} ({pct(c['blank_share'])})" for c in columns)],
        ["done refused on a blank work", *(str(c["empty_works_refused"]) for c in columns)],
        ["titles asked for after a done without one", *(str(c["titles_asked"]) for c in columns)],
        ["decisions repeating the decision before, op for op",
         *(f"{c['repeated_decisions']} of {c['decisions']} ({pct(c['repeated_share'])})" for c in columns)],
        ["distinct titles per work", *(f"{num(c['distinct_titles_per_work'], 2)} ({c['distinct_titles']} titles, "
                                       f"{c['untitled_works']} works untitled)" for c in columns)],
    ]
    rows += [[f"{label} copying ≥ {words} words of their prompt", *(_copies(c["copies"][of]) for c in columns)]
             for of, label in TEXTS.items()]
    rows += [[f"{label} copying ≥ {words} words of the studio's (the prompt without the agent's own words)",
              *(_copies(c["copies"][of]["of_studio"]) for c in columns)] for of, label in TEXTS.items()]
    rows += [
        ["feelings that are dictionary words", *(pct(c["feelings"]["dictionary_share"]) for c in columns)],
        ["feelings that are emotion words", *(pct(c["feelings"]["emotion_share"]) for c in columns)],
        ["distinct emotion words", *(_count(c["feelings"]["distinct_emotion_words"]) for c in columns)],
        ["distinct other words", *(_count(c["feelings"]["distinct_other_words"]) for c in columns)],
    ]
    rows += [[f"first listed: {name}", *(_first(c["first_listed"][name]) for c in columns)] for name in LIST_NAMES]
    return rows


def markdown(a: dict[str, Any]) -> list[str]:
    """The report's section, from report.json's `authenticity` alone."""
    lex, base = a["lexicon"], a["baselines"]
    out = ["## Authenticity", "",
           "How much of what each model made is its own rather than its prompt's. A text (a title, a statement, a "
           "`remember` note, a dream) *copies its prompt* when it shares a run of at least "
           f"{a['copy_run_words']} consecutive words with the prompt it was generated from (each agent publishes "
           "the longest such run beside each text). A prompt holds the agent's own earlier words too (its "
           "memory, its work's title): a text *copies the studio's words* when it shares such a run with the "
           "prompt without them, and the difference is the model repeating itself. An agent reads its own earlier "
           "answers in its context, so a model may also answer with the decision before again, op for op "
           "(*repeating the decision before*). Each agent reads the manual's lists (ops, directions, pen positions, "
           "colours, brushes, durations, pitch letters, octaves) in an order of its own; *first listed* is the share of the choices its applied ops made that were the first item of its own list "
           "(a `remember` note counts as a choice of that op), beside chance, 1 / the list's length. Colours "
           f"are those chosen by colour ops, beside a uniform {pct(base['colour'])} (1 / {base['colours']}); "
           f"pitches are the notes played, beside a uniform {pct(base['pitch'])} (1 / {base['pitches']}: "
           f"{base['pitches_are']}, as the op language writes them).", "",
           (f"Emotion words: not classified, the lexicon could not be read: {text(lex['error'])}" if "error" in lex
            else f"Emotion words: {text(lex.get('name'))}, from {text(lex.get('source'))}, licence "
                 f"{text(lex.get('licence'))}." + (f" {text(lex['notes'])}" if lex.get("notes") else "")), ""]
    models = a["models"]
    out += table(["", *models], _rows(list(models.values()), a["copy_run_words"]))
    for model, m in models.items():
        out += [f"### Colours, pitches and emotions: {text(model)}", ""]
        if m["colours"]["top"]:
            out += table(["colour", "times", "share", "uniform"],
                         [[c["colour"], c["times"], pct(c["share"]), pct(base["colour"])] for c in m["colours"]["top"]])
        if m["pitches"]["top"]:
            out += table(["pitch", "notes", "share", "uniform"],
                         [[p["pitch"], p["times"], pct(p["share"]), pct(base["pitch"])] for p in m["pitches"]["top"]])
        if m["feelings"]["categories"]:
            out += table(["emotion category", "emotion words", "times named"],
                         [[c, v["words"], v["named"]] for c, v in m["feelings"]["categories"].items()])
        if m["copied_runs"]:
            out += ["Runs copied from the prompt most often:", "",
                    *(f"- “{text(run)}” ({n})" for run, n in m["copied_runs"]), ""]
    agents = a["agents"]
    if agents:
        out += ["### Per agent", "", *table(["", *agents], _rows(list(agents.values()), a["copy_run_words"]))]
    return out
