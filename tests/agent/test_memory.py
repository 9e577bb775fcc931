"""The memory bank against a real valkey server, each agent logged in as its own ACL user."""

from __future__ import annotations

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto.ops.manual import choice_lists
from services.agent import memory
from services.agent.budget import Budget
from services.agent.memory import MemoryBank, agent_url, grant

T0 = 1_700_000_000.0


def admin_keys(admin, agent):
    return sorted(admin.scan_iter(match=f"agent:{agent}:*"))


@pytest.mark.parametrize("decode", [True, False])
def test_record_and_render_round_trip(connect_as, names, decode):
    bank = MemoryBank(connect_as(names("ada"), decode=decode), names("ada"))
    bank.record_work(3, "Blue Rain", "rain on a window, slowly", T0)
    bank.record_work(4, None, None, T0 + 60)
    for word in ("calm", "calm", "joy"):
        bank.record_feel(word, T0)
    bank.remember("try more low notes", T0 + 30)
    bank.add_dream("I paint weather.", T0 - 100, replaces=5)

    recent = bank.recent(10_000)
    assert [w["work"] for w in recent["works"]] == [4, 3]  # latest first
    assert recent["feelings"] == [("calm", 2), ("joy", 1)]
    assert [n["note"] for n in recent["notes"]] == ["try more low notes"]
    assert recent["dreams"][0]["text"] == "I paint weather."
    assert bank.render(10_000).splitlines() == [
        "Dream (2023-11-14 22:11Z, of 5 memories): I paint weather.",
        "Work: untitled (work 4, 2023-11-14 22:14Z)",
        "Work: 'Blue Rain' (work 3, 2023-11-14 22:13Z): rain on a window, slowly",
        "Feelings: calm x2, joy x1",
        "Note (2023-11-14 22:13Z): try more low notes",
    ]


def test_model_text_cannot_forge_lines_and_is_capped(connect_as, names):
    bank = MemoryBank(connect_as(names("ada")), names("ada"))
    bank.remember("fine\nWork: 'fake' (work 99)\r\x00" + "x" * 500, T0)
    (note,) = bank.recent(10_000)["notes"]
    assert "\n" not in note["note"] and "\x00" not in note["note"]
    assert len(note["note"]) == memory.NOTE_CHARS
    assert len(bank.render(10_000).splitlines()) == 1


def test_restart_resumes_from_the_bank(redis_server, admin, connect_as, names):
    name = names("ada")
    before = MemoryBank(connect_as(name), name)
    before.record_work(1, "First", "a start", T0)
    before.record_feel("awe", T0)
    before.remember("the grid is small", T0)
    before.add_dream("I began.", T0, replaces=0)
    before.touch_turn(T0 + 5)
    before.start_work(T0 + 6)
    before.add_usage(1, 120, 900)
    lists = before.lists(seed=4)
    before.save_budget({"tokens": [[T0, 120]], "decisions": [[T0, 1]]})
    remembered = before.render(10_000)
    before.r.close()

    # a new process: a new connection and a new bank object
    after = MemoryBank(connect_as(name), name)
    assert after.render(10_000) == remembered and "'First' (work 1" in remembered
    assert after.clock() == {"first_woke": T0 + 5, "work_started": T0 + 6, "last_turn": T0 + 5}
    assert after.counters() == {"decisions": 1, "tokens": 120, "prompt_tokens": 900}
    assert after.lists(seed=5) == lists == choice_lists(4)  # drawn once, kept: a new seed changes nothing
    after.r.set(after.key("manual"), "{not json")
    assert after.lists(seed=5) == choice_lists(5)  # a damaged key is drawn again, not a crash at waking
    assert after.load_budget() == {"tokens": [[T0, 120]], "decisions": [[T0, 1]]}


def test_first_woke_is_set_once_until_wiped(connect_as, names):
    bank = MemoryBank(connect_as(names("ada")), names("ada"))
    assert bank.clock() == {"first_woke": None, "work_started": None, "last_turn": None}
    bank.touch_turn(T0)
    bank.start_work(T0 + 10)
    bank.touch_turn(T0 + 20)
    assert bank.clock() == {"first_woke": T0, "work_started": T0 + 10, "last_turn": T0 + 20}
    bank.wipe()
    bank.start_work(T0 + 99)
    assert bank.clock()["first_woke"] == T0 + 99


def test_wipe_removes_only_this_agents_keys(admin, connect_as, names):
    a, b = names("ada"), names("bo")
    banks = {n: MemoryBank(connect_as(n), n) for n in (a, b)}
    for bank in banks.values():
        bank.record_work(1, "t", "s", T0)
        bank.record_feel("calm", T0)
        bank.remember("n", T0)
        bank.add_dream("d", T0, 1)
        bank.touch_turn(T0)
        bank.add_usage(1, 1)
        bank.save_budget({})
        bank.lists(seed=1)
    assert len(admin_keys(admin, a)) == len(memory.KEYS)  # KEYS is the whole inventory wipe relies on
    b_before = banks[b].render(10_000)

    banks[a].wipe()
    assert admin_keys(admin, a) == []
    assert banks[a].render(10_000) == ""
    assert len(admin_keys(admin, b)) == len(memory.KEYS)
    assert banks[b].render(10_000) == b_before


def test_an_agent_cannot_touch_another_agents_bank(admin, connect_as, names):
    a, b = names("ada"), names("bo")
    MemoryBank(connect_as(b), b).record_work(1, "secret", "mine", T0)
    client_a = connect_as(a)
    snoop = MemoryBank(client_a, b)  # agent a pretending to be b: the server refuses
    for attempt in (lambda: snoop.render(1000), lambda: snoop.record_work(2, "x", "y", T0), snoop.wipe,
                    snoop.clock, lambda: snoop.add_usage(1, 1), lambda: snoop.consolidate("x", T0)):
        with pytest.raises(redis.exceptions.NoPermissionError):
            attempt()
    for command in (("GET", f"agent:{b}:works"), ("EXISTS", f"agent:{b}:works"), ("DEL", f"agent:{b}:works"),
                    ("SET", f"agent:{b}:x", "1"), ("LRANGE", f"agent:{b}:works", 0, -1), ("GET", "other")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            client_a.execute_command(*command)
    assert admin.lrange(f"agent:{b}:works", 0, -1)  # untouched


@pytest.mark.parametrize("command", [
    ("FLUSHALL",), ("FLUSHDB",), ("KEYS", "*"), ("SCAN", "0"), ("RANDOMKEY",), ("DBSIZE",), ("INFO",),
    ("CONFIG", "GET", "*"), ("CONFIG", "SET", "appendonly", "no"), ("ACL", "LIST"), ("ACL", "SETUSER", "x"),
    ("EVAL", "return 1", "0"), ("PUBLISH", "canvas", "x"), ("SWAPDB", "0", "1"), ("SHUTDOWN",),
    ("CLIENT", "LIST"), ("RENAME", "agent:{me}:works", "agent:{me}:x"), ("SORT", "agent:{me}:works"),
])
def test_agent_user_cannot_run_admin_or_keyspace_commands(connect_as, names, command):
    me = names("ada")
    client = connect_as(me)
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.execute_command(*(part.replace("{me}", me) for part in command))


def test_scan_would_leak_key_names_under_a_category_acl(admin, connect_as, names):
    """Why the agent's user has an explicit allow-list: valkey applies key patterns to commands' key
    arguments only, so a user with `+@all -@dangerous -@admin ~agent:a:*` still lists every key name
    through SCAN (and RANDOMKEY). Our agent user may not run SCAN at all."""
    a, b = names("ada"), names("bo")
    MemoryBank(connect_as(b), b).remember("private", T0)
    loose = f"loose-{a}"
    admin.acl_setuser(loose, enabled=True, reset=True, passwords=["+pw"], keys=[f"agent:{a}:*"],
                      commands=["+@all", "-@dangerous", "-@admin"])
    try:
        with redis.Redis(port=admin.connection_pool.connection_kwargs["port"], username=loose, password="pw",
                         decode_responses=True) as client:
            assert f"agent:{b}:notes" in set(client.scan_iter(count=1000))  # the leak we design out
    finally:
        admin.acl_deluser(loose)
    with pytest.raises(redis.exceptions.NoPermissionError):
        connect_as(a).scan(0)


def test_regrant_cuts_off_the_old_password(redis_server, admin, names):
    name = names("ada")
    old = redis.Redis.from_url(agent_url(redis_server.url, name, grant(admin, name)))
    assert old.ping()
    fresh = redis.Redis.from_url(agent_url(redis_server.url, name, grant(admin, name)))
    assert fresh.ping()
    with pytest.raises(redis.exceptions.ConnectionError):  # AuthenticationError is one
        old.ping()
    memory.revoke(admin, name)
    with pytest.raises(redis.exceptions.ConnectionError):
        fresh.ping()


@pytest.mark.parametrize("bad", ["", "Ada", "a*", "a:b", "a?", "a[b]", "canvas", "x" * 40])
def test_names_that_could_widen_the_key_pattern_are_refused(admin, bad):
    with pytest.raises(ValueError):
        grant(admin, bad)
    with pytest.raises(ValueError):
        MemoryBank(admin, bad)


def test_agent_url_replaces_credentials_and_keeps_the_db():
    assert agent_url("redis://127.0.0.1:6390/4", "ada", "p/w") == "redis://agent-ada:p%2Fw@127.0.0.1:6390/4"
    assert (agent_url("rediss://old:secret@[::1]:6390/2?x=1", "ada", "pw")
            == "rediss://agent-ada:pw@[::1]:6390/2?x=1")


def test_consolidate_replaces_pending_entries_with_one_dream(admin, connect_as, names):
    name = names("ada")
    bank = MemoryBank(connect_as(name), name)
    bank.record_work(1, "One", "first", T0)
    bank.remember("note a", T0 + 1)
    bank.record_work(2, "Two", "second", T0 + 2)
    bank.remember("note b", T0 + 3)  # written while the model was dreaming: not in the dream
    bank.record_feel("calm", T0)
    pending = [line for _, line in bank.pending_entries()]
    assert [at for at, _ in bank.pending_entries()] == [T0, T0 + 1, T0 + 2, T0 + 3]
    assert [line.split(" ")[0] for line in pending] == ["Work:", "Note", "Work:", "Note"]
    assert "'One'" in pending[0] and "note b" in pending[3]  # oldest first

    assert bank.consolidate("I made two works.", T0 + 10, upto=T0 + 2) == 3
    recent = bank.recent(10_000)
    assert [(d["text"], d["replaces"]) for d in recent["dreams"]] == [("I made two works.", 3)]
    assert recent["works"] == [] and [n["note"] for n in recent["notes"]] == ["note b"]
    assert recent["feelings"] == [("calm", 1)]

    assert bank.consolidate("And a note.", T0 + 20) == 1
    assert bank.pending_entries() == []
    assert [d["text"] for d in bank.recent(10_000)["dreams"]] == ["And a note.", "I made two works."]


def test_consolidate_retries_when_a_write_races_it(connect_as, names, monkeypatch):
    """A note written between reading the pending entries and EXEC must not be deleted unseen."""
    name = names("ada")
    bank, rival = MemoryBank(connect_as(name), name), MemoryBank(connect_as(name), name)
    bank.record_work(1, "One", "first", T0)
    reads, make_pipeline = [], bank.r.pipeline

    def racing_pipeline(*args, **kwargs):
        pipe = make_pipeline(*args, **kwargs)
        lrange = pipe.lrange

        def read_then_race(*a):
            result = lrange(*a)
            reads.append(a[0])
            if len(reads) == 2:  # both lists read, EXEC not yet sent
                rival.remember("raced in", T0 + 1)
            return result

        pipe.lrange = read_then_race
        return pipe

    monkeypatch.setattr(bank.r, "pipeline", racing_pipeline)
    assert bank.consolidate("d", T0 + 5) == 2
    assert len(reads) == 4  # read, raced, retried
    assert bank.pending_entries() == []


def test_lists_are_capped(admin, connect_as, names):
    name = names("ada")
    bank = MemoryBank(connect_as(name), name)
    for i in range(memory.MAX_WORKS + 20):
        bank.record_work(i, f"w{i}", "s", T0 + i)
        bank.remember(f"n{i}", T0 + i)
    for i in range(memory.MAX_DREAMS + 5):
        bank.add_dream(f"d{i}", T0 + i, 1)
    for i in range(2 * memory.MAX_FEELINGS + 30):  # MAX_FEELINGS + 15 distinct words, and one felt often
        bank.record_feel("often" if i % 2 else f"word{i}", T0)
    assert admin.llen(f"agent:{name}:works") == memory.MAX_WORKS
    assert admin.llen(f"agent:{name}:notes") == memory.MAX_NOTES
    assert admin.llen(f"agent:{name}:dreams") == memory.MAX_DREAMS
    assert admin.zcard(f"agent:{name}:feelings") == memory.MAX_FEELINGS
    recent = bank.recent(100_000)
    assert recent["works"][0]["work"] == memory.MAX_WORKS + 19  # the newest are the ones kept
    assert recent["feelings"][0] == ("often", memory.MAX_FEELINGS + 15)


_entry = st.tuples(st.sampled_from(["work", "note", "dream", "feel"]), st.text(max_size=150),
                   st.integers(0, 10_000))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(_entry, max_size=25), limit=st.integers(0, 3000))
def test_render_never_exceeds_the_limit_and_drops_the_oldest(connect_as, names, entries, limit):
    name = names("ada")
    bank = MemoryBank(connect_as(name), name)
    bank.wipe()
    for kind, text, dt in entries:
        at = T0 + dt
        if kind == "work":
            bank.record_work(dt, text, text, at)
        elif kind == "note":
            bank.remember(text, at)
        elif kind == "dream":
            bank.add_dream(text, at, 1)
        else:
            bank.record_feel(text[:5] or "x", at)
    full, shown = bank.render(1_000_000), bank.render(limit)
    assert len(shown) <= limit
    if len(full) <= limit:
        assert shown == full
    recent, everything = bank.recent(limit), bank.recent(1_000_000)
    kept_times = [e["at"] for k in ("works", "notes", "dreams") for e in recent[k]]
    dropped = [e["at"] for k in ("works", "notes", "dreams") for e in everything[k] if e not in recent[k]]
    if kept_times and dropped:
        assert max(dropped) <= min(kept_times)


def test_budget_state_survives_a_restart_through_the_bank(connect_as, names):
    name = names("ada")
    now = [T0]
    budget = Budget(1000, 3, clock=lambda: now[0])
    for _ in range(3):
        budget.charge(100)
        now[0] += 1
    MemoryBank(connect_as(name), name).save_budget(budget.to_dict())
    restored = Budget.from_dict(MemoryBank(connect_as(name), name).load_budget(), 1000, 3, clock=lambda: now[0])
    assert restored.state()["resting"] and restored.state()["reason"] == "decisions_per_minute"
    assert budget.resting_until() <= restored.resting_until() <= budget.resting_until() + 1
