"""The turns planner (services/supervisor/plan.py, turns.py): who fits, who wakes next, and that it is fair."""

from __future__ import annotations

from collections import Counter

import pytest

from services.supervisor.plan import GIB, Machine, Need, PlanError, check, choose, parse_size
from services.supervisor.turns import Turns

MACHINE_OF_TWO = Machine(memory=2 * GIB, cores=16, source="test")


def six(memory: int = GIB) -> list[Need]:
    return [Need(name, memory, 1) for name in "abcdef"]


def test_everything_that_fits_runs_at_once_with_no_turns():
    turns = Turns(six(), Machine(memory=6 * GIB, cores=6, source="test"), every=60, now=0)
    assert turns.awake == set("abcdef")
    assert not turns.taking_turns and not turns.due(1e12)


def test_six_agents_in_room_for_two_wake_in_groups_round_and_round():
    turns = Turns(six(), MACHINE_OF_TWO, every=60, now=0)
    assert turns.taking_turns and turns.awake == {"a", "b"}
    assert not turns.due(59.9) and turns.due(60)
    seen = [turns.rotate(60 * k) for k in range(1, 5)]
    assert seen == [(["a", "b"], ["c", "d"]), (["c", "d"], ["e", "f"]), (["e", "f"], ["a", "b"]),
                    (["a", "b"], ["c", "d"])]


def test_cores_limit_as_well_as_memory():
    needs = [Need(name, 1, 2) for name in "abc"]
    assert choose(needs, Machine(memory=GIB, cores=4, source="test")) == ["a", "b"]


def test_a_resting_agent_knows_when_it_wakes():
    turns = Turns(six(), MACHINE_OF_TWO, every=60, now=100)
    assert turns.wakes_at("c") == 160 and turns.wakes_at("e") == 220
    assert [awake for _, awake in turns.schedule(100, 4)] == [["a", "b"], ["c", "d"], ["e", "f"], ["a", "b"]]
    turns.rotate(160)
    assert turns.wakes_at("a") == 280  # after c,d and then e,f have had their turn


def test_unequal_agents_share_the_time_fairly():
    """Over many turns every agent is awake for a share of the time, none starved by bigger or smaller ones."""
    needs = [Need("big", 3 * GIB, 1), Need("mid", 2 * GIB, 1), Need("s1", GIB, 1), Need("s2", GIB, 1),
             Need("s3", GIB, 1)]
    turns = Turns(needs, Machine(memory=4 * GIB, cores=8, source="test"), every=1, now=0)
    awake_turns = Counter()
    for k in range(1, 301):
        awake_turns.update(turns.awake)
        turns.rotate(k)
    assert set(awake_turns) == {n.name for n in needs}
    assert min(awake_turns.values()) >= 300 / len(needs) / 2, awake_turns


def test_an_agent_that_cannot_fit_even_alone_is_named_with_what_to_change():
    with pytest.raises(PlanError, match=r"agent b needs .*even alone.*--memory"):
        check([Need("a", GIB, 1), Need("b", 3 * GIB, 1)], MACHINE_OF_TWO)
    with pytest.raises(PlanError, match=r"agent a needs 4 threads"):
        check([Need("a", GIB, 4)], Machine(memory=2 * GIB, cores=2, source="test"))


@pytest.mark.parametrize("text,size", [("16G", 16 * GIB), ("512M", 512 << 20), ("1.5 GiB", 3 * GIB // 2),
                                       ("2048", 2048), ("8gb", 8 * GIB)])
def test_sizes_read_as_people_write_them(text, size):
    assert parse_size(text) == size


def test_a_size_that_is_not_one_says_so():
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


class FakeChild:
    """Stands for an agent's process (services/supervisor/children.py): starts and rests at once."""

    def __init__(self, name: str):
        self.name, self.running, self.resting_until = name, False, None

    def rest(self) -> None:
        self.running = False

    def wake(self) -> None:
        self.running = True


def test_a_turn_runs_from_when_its_agents_are_ready_not_from_when_they_were_started(monkeypatch):
    from services.supervisor import rotation as rotation_module
    from services.supervisor.rotation import READY_LIMIT, Rotation

    clock = [1000.0]
    monkeypatch.setattr(rotation_module.time, "time", lambda: clock[0])
    monkeypatch.setattr(rotation_module.time, "monotonic", lambda: clock[0])
    turns = Turns([Need(n, GIB, 1) for n in "abc"], Machine(memory=GIB, cores=16, source="test"), every=60,
                  now=clock[0])
    ready: dict[str, float] = {}
    children = {n: FakeChild(n) for n in "abc"}
    rotation = Rotation(turns, children, lambda: None, say=lambda line: None, ready_at=ready.get)
    children["a"].wake()
    clock[0] += 75  # a slow model load, past the turn's length: not ready yet, so its turn has not begun
    rotation.tick()
    assert children["a"].running and not children["b"].running
    ready["a"] = clock[0]
    rotation.tick()  # ready now: its turn runs 60 s from here
    assert turns.next_at == clock[0] + 60
    clock[0] += 60
    rotation.tick()  # the turn changes: a rests, b wakes, and b's turn waits for b to be ready
    rotation.tick()
    assert children["b"].running and not children["a"].running
    clock[0] += READY_LIMIT + 1  # b never says it is ready: its turn runs anyway after the limit
    rotation.tick()
    assert turns.next_at == clock[0] + 60 and children["a"].resting_until > clock[0]
