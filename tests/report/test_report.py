"""`aurora report` on recorded logs in the real valkey of tests/conftest.py (tests/report/logs.py): it finds what
was planted and nothing where nothing was, and every number it states is the log's."""

from __future__ import annotations

import contextlib
import io
import json
import re
import statistics
from collections import Counter

import pytest
import redis

from services import cli
from services.report.study import coverage
from tests.report.logs import MODELS, STEP, T0, play
from tests.support.record_writer import RecordWriter, replace_entry

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def played(record_db):
    writer = RecordWriter(record_db)
    return writer, play(writer)


@pytest.fixture
def make_report(record_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", record_url)

    def make(*args: str):
        out = tmp_path / "report"
        status = cli.main(["report", "--out", str(out), "--permutations", "500", *args])
        captured = capsys.readouterr()
        assert status == 0, captured.err
        return json.loads((out / "report.json").read_text()), (out / "report.md").read_text(), out, captured.err

    return make


@pytest.fixture(scope="module")
def reported(redis_server, tmp_path_factory):
    """The played record's report, made once for the tests that only read it (each made the same report of the
    same record before, some 15 s each on a loaded machine): (writer, tallies, figures, text, out folder, stderr).
    The record is played into the record's database (as `record_db` does, emptied before and after) and the
    report made as `make_report` makes it."""
    url = redis_server.url.rsplit("/", 1)[0] + "/1"
    db = redis.Redis.from_url(url)
    db.flushdb()
    out = tmp_path_factory.mktemp("played") / "report"
    err = io.StringIO()
    try:
        writer = RecordWriter(db)
        tallies = play(writer)
        with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(err):
            patch.setenv("REDIS_URL", url)
            status = cli.main(["report", "--out", str(out), "--permutations", "500"])
        assert status == 0, err.getvalue()
    finally:
        db.flushdb()
        db.close()
    figures, text = json.loads((out / "report.json").read_text()), (out / "report.md").read_text()
    return writer, tallies, figures, text, out, err.getvalue()


def rows(text: str) -> set[str]:
    return {line for line in text.splitlines() if line.startswith("|")}


def test_the_planted_association_is_found_and_the_independent_model_has_none(reported):
    _, _, figures, text, _, _ = reported
    planted = {t["name"]: t for t in figures["models"]["planted"]["colour_sound"]["tests"]}
    none = figures["models"]["none"]["colour_sound"]["tests"]
    assert planted["brightness ~ pitch"]["found"] and planted["brightness ~ pitch"]["effect"] > 0.6
    assert planted["colour ~ pitch"]["found"] and planted["colour ~ velocity"]["found"]
    # ada's 240 notes have 240 rotations, all tried (services/report/association.py): the least p is 1/240, and
    # Holm multiplies the least of four by 4.
    assert planted["colour ~ pitch"]["p_holm"] == pytest.approx(4 / 240)
    assert not any(t["found"] for t in none), none
    section = text.split("### planted")[1].split("###")[0]
    assert "| brightness ~ pitch | Spearman ρ | 240 |" in section and "| found (brighter, higher) |" in section
    assert "| found" not in text.split("### none")[1].split("##")[0]


def test_every_number_of_the_report_is_the_logs(reported):
    writer, tallies, figures, text, _, _ = reported
    assert figures["record"]["events"] == writer.seq and figures["record"]["first_time"] == T0
    table = rows(text)
    painted = {agent: Counter() for agent in tallies}
    chosen = {agent: Counter() for agent in tallies}  # colour ops' choices
    for body in writer.bodies.values():
        if body["kind"] == "stroke":
            painted[body["agent"]][body["data"]["color"]] += len(body["data"]["cells"])
        if body["kind"] == "tool" and body["data"]["op"].startswith("color "):
            chosen[body["agent"]][body["data"]["op"].split()[1]] += 1
    cover = {agent: [coverage(w["cells"]) for w in writer.works if w["agent"] == agent] for agent in tallies}
    for agent, t in tallies.items():
        a = figures["agents"][agent]
        last = T0 + (len(t.notes) // 2 - 1) * STEP + (1.0 if agent == "bo" else 0.0)
        hours = (last - T0) / 3600
        assert (a["model"], a["decisions"], a["ops_applied"], a["ops_rejected"]) == \
            (MODELS[agent], t.decisions, t.applied, t.rejected)
        assert a["rejected_share"] == pytest.approx(t.rejected / (t.applied + t.rejected))
        assert a["notes"] == len(t.notes) and a["notes_per_hour"] == round(len(t.notes) / hours, 1)
        assert a["lexicon"] == dict(t.feelings) and a["distinct_emotions"] == len(t.feelings)
        assert a["feelings_named"] == sum(t.feelings.values())
        assert a["painted"] == dict(painted[agent]) and a["colours_used"] == len(painted[agent])
        assert [(w["work"], w["title"], w["statement"]) for w in a["works"]] == t.works
        assert [w["coverage"] for w in a["works"]] == pytest.approx(cover[agent])
        assert a["mean_coverage"] == pytest.approx(statistics.mean(cover[agent]))
        assert a["current_coverage"] == pytest.approx(coverage(writer.canvases[agent].rows()))
        assert 0 < a["current_coverage"] < 1
        # Authenticity (tests/report/test_authenticity.py plants the rest): no lists and no echoes in this log.
        au = figures["authenticity"]["agents"][agent]
        titles = [title for _, title, _ in t.works]
        assert (au["works_finished"], au["blank_works"], au["untitled_works"]) == (len(t.works), 0, titles.count(None))
        assert au["distinct_titles"] == len(set(titles) - {None})
        assert {c["colour"]: c["times"] for c in au["colours"]["top"]} == dict(chosen[agent].most_common(10))
        assert au["first_listed"]["colour"]["share"] is None
        assert au["first_listed"]["colour"]["choices"] == sum(chosen[agent].values()) == t.decisions
        # The agent's line and tables in the Markdown say the same.
        assert (f"{t.decisions} decisions; {t.applied} ops applied, {t.rejected} rejected "
                f"({100 * t.rejected / (t.applied + t.rejected):.1f}%); {len(t.notes)} notes") in text
        for word, n in t.feelings.items():
            assert f"| {word} | {n} |" in table
        colours = {c["colour"]: c for c in figures["models"][MODELS[agent]]["colour_sound"]["colours"]}
        for colour in {c for _, c, _, _ in t.notes}:
            mine = [(m, v) for _, c, m, v in t.notes if c == colour]
            assert colours[colour]["notes"] == len(mine)
            assert colours[colour]["mean_midi"] == pytest.approx(statistics.mean(m for m, _ in mine))
            assert colours[colour]["mean_velocity"] == pytest.approx(statistics.mean(v for _, v in mine))
    ada, bo = tallies["ada"], tallies["bo"]
    assert f"| decisions | {ada.decisions} | {bo.decisions} |" in table  # models side by side: planted, none
    assert f"| notes played | {len(ada.notes)} | {len(bo.notes)} |" in table
    assert f"| distinct feelings | {len(ada.feelings)} | {len(bo.feelings)} |" in table
    assert f"| works finished | {len(ada.works)} | {len(bo.works)} |" in table
    everyone = set(ada.feelings) | set(bo.feelings)
    assert figures["distinct_emotions"] == len(everyone)
    assert f"named **{len(everyone)}** distinct feelings" in text
    assert figures["models"]["planted"]["only_this_model"] == sorted(set(ada.feelings) - set(bo.feelings))
    assert figures["models"]["none"]["only_this_model"] == sorted(set(bo.feelings) - set(ada.feelings))


def test_the_timeline_counts_each_bin_and_says_its_width(reported):
    _, tallies, figures, text, _, _ = reported
    tl = figures["timeline"]
    assert tl["bin_seconds"] == 300.0  # an hour of record: twelve 5-minute bins
    for agent, t in tallies.items():
        model = MODELS[agent]
        assert tl["notes"][model] == [sum(1 for when, *_ in t.notes if (when - T0) // 300 == i)
                                      for i in range(len(tl["starts"]))]
        assert tl["feelings"][model] == [sum(1 for when in t.feeling_times if (when - T0) // 300 == i)
                                         for i in range(len(tl["starts"]))]
        assert sum(tl["notes"][model]) == len(t.notes)
    assert "in each 5 minutes from the first event (× 12 for a rate per hour)" in text
    first = f"| 0 | {tl['notes']['planted'][0]} | {tl['notes']['none'][0]} |"
    assert any(line.startswith(first) for line in rows(text))


def test_the_files_are_written_and_the_models_text_is_escaped(reported):
    *_, out, err = reported
    html = (out / "report.html").read_text()
    assert "<table>" in html and "<b>care</b>" not in html and "&lt;b&gt;care&lt;/b&gt;" in html
    assert "closes work 1 \\| with" in (out / "report.md").read_text()  # a | in a cell stays in its cell
    assert "closes work 1 | with" in html
    pictures = re.findall(r'<img alt="[^"]*" src="([^"]+)"', html)
    assert {p.split("/")[0] for p in pictures} == {"plots", "works"}
    for picture in pictures:
        assert (out / picture).read_bytes().startswith(PNG), picture
    assert len([p for p in pictures if p.startswith("plots/colour-sound")]) == 2
    assert "wrote" in err and "plots" in err
    assert "permutation tests: 500 random rotations" in (out / "report.md").read_text()  # the number used


def test_a_corrupt_event_is_reported_and_skipped(played, make_report, record_db):
    writer, tallies = played
    seq = next(s for s, b in writer.bodies.items() if b["kind"] == "feel" and b["agent"] == "ada")
    replace_entry(record_db, "aurora:events", f"{seq}-0", {"agent": "ada", "kind": "feel", "event": b"junk"})
    figures, text, _, err = make_report()
    assert f"aurora:events {seq}-0" in err
    assert figures["record"]["undecodable"] == 1 and "Left out: 1 entries" in text
    assert figures["agents"]["ada"]["feelings_named"] == sum(tallies["ada"].feelings.values()) - 1


def test_an_empty_record_is_no_report(record_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", record_url)
    assert cli.main(["report", "--out", str(tmp_path / "r")]) == 1
    assert "no record" in capsys.readouterr().err
    assert not (tmp_path / "r" / "report.html").exists()


HOSTILE_MODEL = "<meta http-equiv=refresh content='0;url=https://evil.example/'> $x$ | *m*"
HOSTILE_TITLE = "[x](javascript:alert(1)) a \\| b `c` *d*"  # a title: at most 60 characters
HOSTILE_STATEMENT = "![i](https://evil.example/i.png) <script>alert(1)</script> " + HOSTILE_TITLE


def test_nothing_a_model_says_or_is_called_becomes_markup(record_db, make_report):
    writer = RecordWriter(record_db)
    writer.join("eve", 8, 4, model=HOSTILE_MODEL)
    writer.decide("eve", ["color red", "pen down", "note C4 quarter 90", "feel calm", f'title "{HOSTILE_TITLE}"',
                          "done"])
    writer.event("eve", "statement", {"work": 1, "text": HOSTILE_STATEMENT})
    figures, text, out, _ = make_report()
    html = (out / "report.html").read_text()
    assert "<meta http-equiv" not in html and "javascript:" not in html.replace("[x](javascript:", "")
    assert "evil.example/i.png" not in html.replace("![i](https://evil.example/i.png)", "")
    assert html.count("<img") == len(re.findall(r"!\[[^\]]*\]\((plots|works)/", text))  # only the report's own
    assert "<em>m</em>" not in html and "<em>d</em>" not in html and "<code>c</code>" not in html
    assert "<script>" not in html
    assert figures["models"][HOSTILE_MODEL]["agents"] == ["eve"]
    assert "a \\| b" in html  # the statement whole, its backslash and bar shown as written
    assert html.count("<table>") == text.count("\n|---")  # every table is still a table
