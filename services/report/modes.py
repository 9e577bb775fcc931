"""The modes section: how alike a run's agents become and how varied its works stay, window by window, for one
run or for a run beside another (`aurora report --beside`), and each salon run's own facts and influence test.

Per window of `RunFacts.window` seconds from each run's first event (so two runs line up by minutes since they
began): the mean pairwise Jaccard overlap between agents of their title words and of their feelings, the mean
pairwise Jensen–Shannon divergence of the colours they painted (cells per colour, from `stroke` events), and the
diversity of the whole studio: entropy (bits) of its titles, title words, feelings and colours, with the counts
they come from (services/report/similarity.py).

Per run, each series' trend (does it rise or fall over the run?); for two runs, each series' difference (is its
mean over the windows higher in this run than in the other?): permutation tests over the windows, Holm-adjusted
over the series (services/report/window_tests.py). Where no data could have been found with so few windows, the
verdict says so.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from services.report.association import ALPHA, Association, holm
from services.report.influence import MINUTES, WORKS, Influence, influence
from services.report.markup import num, table, text
from services.report.salon import BOARD_CODES, ISOLATED_CODE, SALON_KINDS, RunFacts
from services.report.similarity import entropy, jaccard, js_divergence, mean_pairwise
from services.report.window_tests import difference, trend, verdicts

SIMILARITY = {"title_jaccard": "title words: mean pairwise Jaccard", "feeling_jaccard":
              "feelings: mean pairwise Jaccard", "colour_js": "colours: mean pairwise JS divergence (bits)"}
DIVERSITY = {"title_entropy": "titles", "title_word_entropy": "title words", "feeling_entropy": "feelings",
             "colour_entropy": "colours (cells)"}

LABELS = {**SIMILARITY, **{k: f"entropy of {v}" for k, v in DIVERSITY.items()}}


def _sets(counts: dict[str, Counter]) -> dict[str, frozenset]:
    return {agent: frozenset(c) for agent, c in counts.items()}


def _total(counts: dict[str, Counter]) -> Counter:
    return sum(counts.values(), Counter())


def series(facts: RunFacts) -> dict[str, list]:
    """Each measure's value per window (None where a window has no pair or nothing to count), and its counts."""
    out: dict[str, list] = {k: [] for k in ("start_minutes", *SIMILARITY, "title_pairs", "feeling_pairs",
                                            "colour_pairs", *DIVERSITY, "titles", "title_words", "feelings",
                                            "cells")}
    for i in range(facts.window_count):
        w = facts.windows.get(i)
        if w is None:
            continue  # no event in this window (the studio was down): no point rather than a zero
        out["start_minutes"].append(i * facts.window / 60)
        for key, pairs_key, value in (("title_jaccard", "title_pairs", mean_pairwise(_sets(w.title_words), jaccard)),
                                      ("feeling_jaccard", "feeling_pairs", mean_pairwise(_sets(w.feelings), jaccard)),
                                      ("colour_js", "colour_pairs", mean_pairwise(w.colours, js_divergence))):
            out[key].append(value[0])
            out[pairs_key].append(value[1])
        for key, count_key, counts in (("title_entropy", "titles", _total(w.titles)),
                                       ("title_word_entropy", "title_words", _total(w.title_words)),
                                       ("feeling_entropy", "feelings", _total(w.feelings)),
                                       ("colour_entropy", "cells", _total(w.colours))):
            total = sum(counts.values())
            out[key].append(entropy(counts) if total else None)
            out[count_key].append(total)
    return out


def mode_of(facts: RunFacts, given: str | None) -> tuple[str, str]:
    """(mode, how it was determined). A mode given that the events contradict is an error (ValueError)."""
    shown, why = facts.mode_evidence()
    if given is not None:
        if shown is not None and shown != given:
            raise ValueError(f"the run was said to be {given}, but its events show {shown}: {why}")
        return given, f"as given ({why})"
    if shown is not None:
        return shown, f"from the events: {why}"
    return "isolated", f"not recorded ({why}): taken as isolated, the default; say otherwise with a mode flag"


def run_figures(label: str, facts: RunFacts, mode: str, how: str, *, permutations: int, seed: int,
                influence_works: int = WORKS, influence_minutes: float = MINUTES) -> dict[str, Any]:
    s = series(facts)
    trends = verdicts(holm([trend(key, s[key], permutations=permutations, seed=seed) for key in LABELS]))
    figures = {"label": label, "mode": mode, "mode_how": how, "window_minutes": facts.window / 60,
               "events": facts.events, "unreadable": facts.unreadable, "agents": facts.models,
               "hours": ((facts.end or 0) - (facts.start or 0)) / 3600, "series": s,
               "trends": [_test_figures(t) for t in trends]}
    if mode == "salon":
        figures["salon"] = _salon_figures(facts)
        figures["influence"] = _influence_figures(influence(facts, permutations=permutations, seed=seed,
                                                            works=influence_works, minutes=influence_minutes))
    return figures


def _test_figures(t: Association) -> dict[str, Any]:
    return {"name": t.name, "measure": t.measure, "n": t.n, "effect": t.effect, "chance": t.chance, "p": t.p,
            "p_holm": t.p_holm, "found": t.found, "why": t.why}


def _salon_figures(facts: RunFacts) -> dict[str, Any]:
    agents = {}
    for agent in sorted(set(facts.models) | set(facts.acts) | set(facts.refusals)):
        acts = facts.acts.get(agent, Counter())
        agents[agent] = {"model": facts.models.get(agent), **{k: acts[k] for k in SALON_KINDS},
                         "posts_read": facts.posts_read[agent], "refused": dict(facts.refusals.get(agent, {}))}
    models: dict[str, dict[str, int]] = {}
    for a in agents.values():
        m = models.setdefault(str(a["model"]), Counter())
        m.update({k: a[k] for k in (*SALON_KINDS, "posts_read")})
    refused = sum((Counter(a["refused"]) for a in agents.values()), Counter())
    return {"agents": agents, "models": {m: dict(c) for m, c in models.items()},
            "refused": {code: refused[code] for code in (ISOLATED_CODE, *BOARD_CODES)}}


def _influence_figures(inf: Influence) -> dict[str, Any]:
    return {"reads": inf.reads, "works": inf.works, "minutes": inf.minutes, "posts_read": inf.posts_read,
            "controlled_reads": inf.controlled_reads, "slots": inf.slots, "pairs": inf.pairs,
            "controlled": inf.controlled, "by_lag": inf.by_lag,
            "tests": [_test_figures(t) for t in inf.tests], "follows": inf.follows,
            "follows_by_chance": inf.follows_by_chance,
            "shared_all": {"sharing": inf.shared_all[0], "pairs": inf.shared_all[1]}}


def figures(runs: list[dict[str, Any]], *, permutations: int, seed: int = 0) -> dict[str, Any]:
    """The section's figures: each run's (run_figures), whether they share a roster, and for two runs whether
    each series differs between them (the first's mean over its windows minus the second's)."""
    rosters = [sorted(r["agents"].items()) for r in runs]
    differences = None
    if len(runs) == 2:
        this, other = (r["series"] for r in runs)
        differences = [_test_figures(t) for t in verdicts(holm([
            difference(key, this[key], other[key], permutations=permutations, seed=seed) for key in LABELS]))]
    return {"runs": runs, "same_roster": len(runs) < 2 or all(r == rosters[0] for r in rosters),
            "differences": differences, "permutations": permutations, "alpha": ALPHA}


# -- Markdown ---------------------------------------------------------------------------------------------------


def markdown(f: dict[str, Any]) -> list[str]:
    runs = f["runs"]
    names = [f"{r['label']} ({r['mode']})" for r in runs]
    out = ["## Modes", "",
           f"How alike the agents become and how varied the works stay, per {num(runs[0]['window_minutes'], 0)} "
           "minutes from each run's first event. Jaccard: 0 (nothing shared) to 1 (the same words); JS divergence: "
           "0 (the same colours) to 1 (none in common); entropy in bits, which grows with the count beside it. "
           "A pair counts where both agents have something in the window.", ""]
    for r in runs:
        out += [f"- **{text(r['label'])}**: {r['mode']} ({text(r['mode_how'])}); {r['events']} events, "
                f"{r['hours']:.2f} hours, agents {text(', '.join(f'{a} ({m})' for a, m in r['agents'].items()))}."]
    if not f["same_roster"]:
        out += ["", "The runs' rosters differ (agents or models): a difference between them may be the roster's."]
    out += [""]
    for key, what in LABELS.items():
        out += [f"**{what}**", "", *_side_by_side(runs, names, key)]
    out += [f"Trends (Spearman ρ of the value against the window's number; permutations of the windows' order, "
            f"Holm-adjusted over each run's series; *found* means adjusted p < {f['alpha']}):", ""]
    rows = [[name, LABELS[t["name"]], *_verdict(t)] for name, r in zip(names, runs) for t in r["trends"]]
    out += table(["run", "series", "windows", "ρ", "p", "p (Holm)", "verdict"], rows)
    if f.get("differences"):
        out += [f"Difference between the modes: {names[0]} minus {names[1]}, each series' mean over its windows "
                "(the null: a window's value does not depend on its run; every split of the two runs' windows "
                f"into groups of their sizes, or {f['permutations']} drawn, Holm-adjusted over the series; a drift "
                "both runs share makes this test cautious, not liberal):", ""]
        out += table(["series", "windows (both runs)", "difference", "p", "p (Holm)", "verdict"],
                     [[LABELS[t["name"]], *_verdict(t, trend=False)] for t in f["differences"]])
    for name, r in zip(names, runs):
        if "salon" in r:
            out += _salon_markdown(name, r, f["permutations"])
    return out


def _side_by_side(runs: list[dict[str, Any]], names: list[str], key: str) -> list[str]:
    count = {"title_jaccard": "title_pairs", "feeling_jaccard": "feeling_pairs", "colour_js": "colour_pairs",
             "title_entropy": "titles", "title_word_entropy": "title_words", "feeling_entropy": "feelings",
             "colour_entropy": "cells"}[key]
    starts = sorted({m for r in runs for m in r["series"]["start_minutes"]})
    rows = []
    for start in starts:
        row: list[Any] = [f"{start:g}"]
        for r in runs:
            s = r["series"]
            i = s["start_minutes"].index(start) if start in s["start_minutes"] else None
            row.append("–" if i is None else f"{num(s[key][i])} ({s[count][i]})")
        rows.append(row)
    return table(["from (min)", *(f"{n}: value ({count.replace('_', ' ')})" for n in names)], rows)


def _verdict(t: dict[str, Any], trend: bool = True) -> list[Any]:
    if t["effect"] is None:
        return [t["n"], "–", "–", "–", f"not tested: {t['why']}"]
    found = (t["why"] or "none found") if not t["found"] else "found" + (
        ("" if not trend else " (rises)" if t["effect"] > 0 else " (falls)"))
    return [t["n"], num(t["effect"]), num(t["p"], 4), num(t["p_holm"], 4), found]


def _salon_markdown(name: str, r: dict[str, Any], permutations: int) -> list[str]:
    s, inf = r["salon"], r["influence"]
    out = [f"### The salon of {text(name)}", "",
           *table(["agent", "model", "posts", "replies", "reactions", "reads", "posts read", "refused"],
                  [[a, v["model"] or "–", v["post"], v["reply"], v["react"], v["read"], v["posts_read"],
                    ", ".join(f"{c} {n}" for c, n in v["refused"].items()) or "–"] for a, v in s["agents"].items()]),
           *table(["model", "posts", "replies", "reactions", "reads", "posts read"],
                  [[m, v.get("post", 0), v.get("reply", 0), v.get("react", 0), v.get("read", 0),
                    v.get("posts_read", 0)] for m, v in s["models"].items()]),
           "Salon ops refused, by code: " + ", ".join(f"{c} {n}" for c, n in s["refused"].items()) + ".", "",
           f"Influence: {inf['reads']} reads. A pair is a post the reader was shown and one of its next "
           f"{inf['works']} finished works, finished within {num(inf['minutes'], 0)} minutes of the read (lag 1: the "
           "next work, 2: the one after, ...), once however often the post was shown: "
           f"{inf['posts_read']} posts read followed by a work, {inf['pairs']} pairs; {inf['controlled_reads']} of "
           f"the posts ({inf['controlled']} pairs: "
           + (", ".join(f"{n} at lag {lag}" for lag, n in inf["by_lag"].items()) or "none")
           + ") with a control: works by others that the reader had not been shown, finished as close in time to "
           "the post's work and as many before it as after. Is the work more like the post read than like them? "
           "The difference is the mean over the pairs of the similarity to the post minus the mean similarity "
           "to the unread works (so a drift the agents share, which makes the work as like both, is no "
           "influence). The null pairs each reader's posts read with its works at other times: the reads between "
           f"two of its works (a slot, {inf['slots']} in all) keep their posts and controls and are rotated "
           "against the reader's works, so that the pairs of one read move together; every joint rotation, or "
           f"{permutations} drawn, Holm-adjusted over the two tests.", ""]
    rows = []
    for t in inf["tests"]:
        verdict = _verdict(t, trend=False)
        effect = verdict[1] if t["effect"] is None else f"{num(t['effect'])} (similarity to the unread: {num(t['chance'])})"
        rows.append([t["name"], t["measure"], verdict[0], effect, *verdict[2:]])
    out += table(["test", "measure", "pairs (or posts read, untested)", "difference", "p", "p (Holm)", "verdict"],
                 rows)
    sharing, titled = inf["shared_all"]["sharing"], inf["shared_all"]["pairs"]
    if titled:
        out += [f"Of all {titled} pairs whose work has a title, with a control or not, {sharing} "
                f"({100 * sharing / titled:.1f}%) share a title word with the post read (a description, not tested).",
                ""]
    if inf["follows"] is not None:
        out += [f"{100 * inf['follows']:.1f}% of the pairs' works share a title word with the post read "
                f"(with the unread works beside it: {100 * inf['follows_by_chance']:.1f}%).", ""]
    return out
