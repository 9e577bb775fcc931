"""`python -m services.recorder.footprint`: the record's memory in Redis, by family, per event and per agent-day."""

from __future__ import annotations

import re

from services.recorder import footprint
from tests.support.record_writer import ClockedWriter, write_record


def test_it_measures_every_family_and_projects_per_agent_and_day(r, capsys):
    w = write_record(r, ClockedWriter(r, 1_800_000_000.0))  # an event a second, two agents
    assert footprint.report(r, None) == 0
    out = capsys.readouterr().out
    assert f"record: {w.seq} events of 2 agents" in out
    sizes = {m[0]: float(m[1]) for m in re.findall(r"^  (\w+) +([\d.]+) MB", out, re.M)}
    assert {"events", "snapshots", "works", "work"} <= set(sizes) and sizes["events"] > 0
    per_event = int(re.search(r"bytes per event: (\d+)", out)[1])
    rate = w.seq / 2 / (w.seq - 1) * footprint.DAY  # events per agent per day at this record's pace
    assert f"events per agent per day: {rate:,.0f} (this record)" in out
    mb = int(re.search(r"Redis per agent per day: (\d+) MB", out)[1])
    assert abs(mb - per_event * rate / 1e6) <= 1
    assert footprint.report(r, 1000.0) == 0 and "1,000 (given)" in capsys.readouterr().out


def test_an_empty_record_is_said(r, capsys):
    assert footprint.report(r, None) == 1 and "no events" in capsys.readouterr().err
