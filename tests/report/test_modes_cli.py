"""`aurora report --beside` end to end: an isolated run exported with `aurora export` from a real valkey, then a
salon run of the same roster recorded in its place, and the report of the salon run beside the export."""

from __future__ import annotations

import json

import pytest

from services import cli
from tests.report.salon_runs import play
from tests.support.record_writer import RecordWriter


def record(r, events) -> None:
    writer = RecordWriter(r)
    for msg in events:
        writer.now = msg.time
        writer.event(msg.body["agent"], msg.body["kind"], msg.body["data"])


@pytest.fixture(autouse=True)
def record_url_set(record_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", record_url)


@pytest.fixture
def report(record_url, record_db, tmp_path, monkeypatch, capsys):
    def make(*args: str) -> tuple[int, dict | None, str, str]:
        out = tmp_path / "report"
        status = cli.main(["report", "--out", str(out), "--permutations", "300", *args])
        err = capsys.readouterr().err
        if status:
            return status, None, "", err
        return status, json.loads((out / "report.json").read_text()), (out / "report.md").read_text(), err

    return make


@pytest.fixture
def isolated_export(record_url, record_db, tmp_path, monkeypatch, capsys):
    record(record_db, play(4, salon=False))
    folder = tmp_path / "isolated"
    assert cli.main(["export", str(folder)]) == 0
    capsys.readouterr()
    record_db.flushdb()
    return folder


def test_a_salon_run_beside_an_isolated_export_gets_both_series_and_its_influence(isolated_export, record_db,
                                                                                  report, tmp_path):
    record(record_db, play(4, influence=True))
    status, figures, text, err = report("--beside", str(isolated_export), "--beside-mode", "isolated")
    assert status == 0, err
    salon, isolated = figures["modes"]["runs"]
    assert (salon["mode"], isolated["mode"]) == ("salon", "isolated")
    assert salon["mode_how"].startswith("from the events") and isolated["mode_how"].startswith("as given")
    assert figures["modes"]["same_roster"] and salon["series"]["start_minutes"] == [0, 5, 10, 15, 20, 25]
    assert all(t["found"] for t in salon["influence"]["tests"]) and "influence" not in isolated
    assert "## Modes" in text and "### The salon of this record (salon)" in text
    assert "A pair is a post the reader was shown and one of its next 3 finished works, finished within 15 " \
           "minutes of the read" in text and salon["influence"]["by_lag"]["3"] > 0
    assert "| from (min) | this record (salon): value (title pairs) | beside: isolated (isolated): value (title " \
           "pairs) |" in text
    differences = {t["name"]: t for t in figures["modes"]["differences"]}
    assert differences["title_jaccard"]["n"] == 12 and differences["title_jaccard"]["p"] is not None
    assert "Difference between the modes: this record (salon) minus beside: isolated (isolated)" in text
    assert "Modes" in (tmp_path / "report" / "report.html").read_text()
    # without --beside-mode the isolated run says it could not tell, and is taken as isolated
    status, figures, text, _ = report("--beside", str(isolated_export / "events.jsonl"), "--window-minutes", "10")
    assert figures["modes"]["runs"][1]["mode_how"].startswith("not recorded")
    assert figures["modes"]["runs"][0]["series"]["start_minutes"] == [0, 10, 20]
    assert "not tested: 3 windows with a value" in text  # 30 minutes in 10-minute windows: no trend can be found


def test_a_lone_salon_run_has_its_salon_section_and_a_lone_isolated_run_none(record_db, report):
    record(record_db, play(5, minutes=12))
    _, figures, text, _ = report()
    assert [r["mode"] for r in figures["modes"]["runs"]] == ["salon"] and "### The salon of this record" in text
    record_db.flushdb()
    record(record_db, play(5, minutes=12, salon=False))
    _, figures, text, _ = report()
    assert figures["modes"] is None and "## Modes" not in text


def test_a_missing_export_and_a_contradicted_mode_are_refused_with_a_reason(isolated_export, record_db, report,
                                                                            tmp_path):
    status, _, _, err = report("--beside", str(tmp_path / "nowhere"))
    assert status == 2 and "no `aurora export` folder" in err
    record(record_db, play(6, minutes=5))
    status, _, _, err = report("--mode", "isolated")
    assert status == 2 and "events show salon" in err
