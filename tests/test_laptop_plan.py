"""docs/models.md's worked example: 14 models on a 16 GB laptop take turns (stand-in headers, `aurora up --plan`)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support.processes import ROOT, aurora


def test_fourteen_models_on_a_laptop_take_turns_and_every_one_gets_a_turn(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "docs/examples/laptop_plan.py"), str(tmp_path)], check=True,
                   capture_output=True, timeout=60)
    assert sum(f.stat().st_blocks for f in tmp_path.iterdir()) * 512 < 64 << 20  # sparse: headers only on disk
    plan = aurora("up", "--plan", "--roster", str(tmp_path / "roster.toml"), "--memory", "12G", "--cores", "8",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env_extra={"AURORA_DATA": str(tmp_path)})
    out, err = plan.communicate(timeout=120)
    assert plan.returncode == 0, err
    assert "Plan for 14 agent(s) on given memory and cores: 12.0 GiB" in out
    assert "Not all fit at once" in out and "take turns of 30 minutes" in out
    turns = re.findall(r"^  turn \d+ +\S+(?: min)? +(.+)$", out, re.M)
    assert len(turns) >= 3
    named = {name for line in turns for name in line.split(", ")}
    assert len(named) == 14, named  # nobody is left out of the turns
    assert re.search(r"each agent is awake for [1-9]", out)
