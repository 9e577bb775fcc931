"""An agent's memory bank in Redis: past works, feelings, its own notes, dreams, its clock and usage.

Isolation is enforced by the server, not by convention: each agent connects as its own ACL user
`agent-<name>`, whose key pattern is `~agent:<name>:*` and whose commands are an explicit allow-list of
what this module uses. Keyspace-wide commands are left out on purpose: with a key pattern, valkey still
lets SCAN, RANDOMKEY and DBSIZE see every key name in the database, so the bank never scans; it keeps its
data in a fixed set of key names (KEYS) and `wipe` deletes exactly those.

A user is granted at every start of its agent (a fresh password each time, which also cuts off any stale
process still holding the old one) and saved to the embedded server's ACL file, so that it outlives a restart
of Redis (services/base/redis_server.py).
"""

from __future__ import annotations

import json
import re
import secrets
import time

import redis

from proto.messages import USAGE_FIELDS
from proto.names import name_problem  # one rule for agent names: it is what keeps the key pattern tight
from proto.ops.manual import choice_lists, valid_lists
from services.base.redis_server import save_users, url_with_credentials

# Every key a bank owns, under agent:<name>:. Adding a key here is all `wipe` needs.
KEYS = ("works", "notes", "dreams", "feelings", "clock", "usage", "budget", "manual")

# Caps, so a bank stays small after days of running.
MAX_WORKS, MAX_NOTES, MAX_DREAMS, MAX_FEELINGS = 50, 50, 30, 200
TITLE_CHARS, STATEMENT_CHARS, NOTE_CHARS, DREAM_CHARS, WORD_CHARS = 60, 280, 120, 600, 24
FEELINGS_SHOWN = 8

# The only commands an agent's user may run (redis-py sends SELECT for a db index and CLIENT SETINFO
# on connect). No SCAN/KEYS/RANDOMKEY/DBSIZE (they see all key names), no EVAL, no admin commands.
AGENT_COMMANDS = (
    "ping", "select", "client|setinfo", "multi", "exec", "discard", "watch", "unwatch",
    "get", "set", "del", "exists",
    "lpush", "rpush", "lrange", "ltrim",
    "hset", "hsetnx", "hgetall", "hincrby",
    "zincrby", "zrevrange", "zremrangebyrank",
)


def user_name(agent: str) -> str:
    problem = name_problem(agent)
    if problem:
        raise ValueError(problem)
    return f"agent-{agent}"


def grant(admin: redis.Redis, agent: str) -> str:
    """Create or reset the agent's ACL user with a fresh password; return the password."""
    user = user_name(agent)
    password = secrets.token_urlsafe(32)
    admin.execute_command("ACL", "SETUSER", user, "reset", "on", f">{password}", f"~agent:{agent}:*",
                          "resetchannels", *(f"+{c}" for c in AGENT_COMMANDS))
    admin.client_kill_filter(user=user)  # a connection made with the old password loses its access now
    save_users(admin)
    return password


def revoke(admin: redis.Redis, agent: str) -> None:
    admin.execute_command("ACL", "DELUSER", user_name(agent))  # also closes its connections
    save_users(admin)


def agent_url(base_url: str, agent: str, password: str) -> str:
    """The base URL with the agent's credentials in place of any others; scheme, host, db index kept."""
    return url_with_credentials(base_url, user_name(agent), password)


def _s(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _clean(text: str | None, cap: int) -> str | None:
    """One line, capped: the model's words can never forge extra lines in the rendered memory."""
    if text is None:
        return None
    return re.sub(r"\s+", " ", "".join(c if c.isprintable() else " " for c in str(text))).strip()[:cap]


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%MZ", time.gmtime(at))


def _line(kind: str, e: dict) -> str:
    if kind == "works":
        title = f"'{e['title']}'" if e.get("title") else "untitled"
        statement = f": {e['statement']}" if e.get("statement") else ""
        return f"Work: {title} (work {e['work']}, {_when(e['at'])}){statement}"
    if kind == "notes":
        return f"Note ({_when(e['at'])}): {e['note']}"
    return f"Dream ({_when(e['at'])}, of {e['replaces']} memories): {e['text']}"


def render_recent(recent: dict) -> str:
    """Facts only, one per line, latest first within each kind."""
    lines = [_line("dreams", e) for e in recent["dreams"]]
    lines += [_line("works", e) for e in recent["works"]]
    if recent["feelings"]:
        lines.append("Feelings: " + ", ".join(f"{w} x{n}" for w, n in recent["feelings"]))
    lines += [_line("notes", e) for e in recent["notes"]]
    return "\n".join(lines)


def trim_to_fit(recent: dict, limit_chars: int) -> dict:
    """Drop the oldest dated entry (work, note, dream) first, then the least felt word, until the rendered
    memory fits `limit_chars`. Changes and returns `recent`."""
    while len(render_recent(recent)) > limit_chars:
        dated = [(e["at"], kind, i) for kind in ("works", "notes", "dreams") for i, e in enumerate(recent[kind])]
        if dated:
            _, kind, i = min(dated)
            del recent[kind][i]
        elif recent["feelings"]:
            recent["feelings"].pop()
        else:
            break
    return recent


class MemoryBank:
    def __init__(self, client: redis.Redis, agent: str):
        user_name(agent)  # validates the name
        self.r = client
        self.agent = agent
        self.prefix = f"agent:{agent}:"

    def key(self, name: str) -> str:
        assert name in KEYS, name
        return self.prefix + name

    def _push(self, name: str, entry: dict, cap: int) -> None:
        p = self.r.pipeline()
        p.lpush(self.key(name), json.dumps(entry))
        p.ltrim(self.key(name), 0, cap - 1)
        p.execute()

    def _list(self, name: str) -> list[dict]:
        return [json.loads(_s(v)) for v in self.r.lrange(self.key(name), 0, -1)]

    # -- writing ---------------------------------------------------------------------------------------

    def record_work(self, work: int, title: str | None, statement: str | None, at: float) -> None:
        self._push("works", {"work": int(work), "title": _clean(title, TITLE_CHARS),
                             "statement": _clean(statement, STATEMENT_CHARS), "at": at}, MAX_WORKS)

    def record_feel(self, word: str, at: float) -> None:
        word = _clean(word, WORD_CHARS).lower()  # counts are what is kept; `at` is not needed for them
        if not word:
            return
        p = self.r.pipeline()
        p.zincrby(self.key("feelings"), 1, word)
        p.zremrangebyrank(self.key("feelings"), 0, -(MAX_FEELINGS + 1))  # keep the most felt words
        p.execute()

    def remember(self, note: str, at: float) -> None:
        note = _clean(note, NOTE_CHARS)
        if note:
            self._push("notes", {"note": note, "at": at}, MAX_NOTES)

    def add_dream(self, text: str, at: float, replaces: int) -> None:
        self._push("dreams", {"text": _clean(text, DREAM_CHARS), "at": at, "replaces": int(replaces)}, MAX_DREAMS)

    # -- reading ---------------------------------------------------------------------------------------

    def feelings(self, top: int = FEELINGS_SHOWN) -> list[tuple[str, int]]:
        rows = self.r.zrevrange(self.key("feelings"), 0, top - 1, withscores=True)
        return [(_s(w), int(n)) for w, n in rows]

    def recent(self, limit_chars: int) -> dict:
        """What the prompt shows, trimmed to fit `limit_chars` (see trim_to_fit)."""
        return trim_to_fit({"works": self._list("works"), "feelings": self.feelings(),
                            "notes": self._list("notes"), "dreams": self._list("dreams")}, limit_chars)

    def render(self, limit_chars: int) -> str:
        return render_recent(self.recent(limit_chars))

    # -- dreams ----------------------------------------------------------------------------------------

    def pending_entries(self) -> list[tuple[float, str]]:
        """Works and notes not yet condensed into a dream, oldest first, each as (time, line)."""
        entries = [(e["at"], _line(kind, e)) for kind in ("works", "notes") for e in self._list(kind)]
        return sorted(entries, key=lambda x: x[0])

    def consolidate(self, dream: str, at: float, upto: float | None = None) -> int:
        """Replace the pending works and notes (those at or before `upto`, default all) with one dream,
        atomically (WATCH/MULTI/EXEC: a concurrent write makes it retry). Feelings are kept as they are.
        Returns how many entries the dream replaced."""
        works, notes = self.key("works"), self.key("notes")
        with self.r.pipeline() as p:
            while True:
                try:
                    p.watch(works, notes)
                    kept, replaced = {}, 0
                    for key in (works, notes):
                        raw = p.lrange(key, 0, -1)
                        kept[key] = [v for v in raw if upto is not None and json.loads(_s(v))["at"] > upto]
                        replaced += len(raw) - len(kept[key])
                    p.multi()
                    p.delete(works, notes)
                    for key, values in kept.items():
                        if values:
                            p.rpush(key, *values)  # still latest first
                    p.lpush(self.key("dreams"), json.dumps(
                        {"text": _clean(dream, DREAM_CHARS), "at": at, "replaces": replaced}))
                    p.ltrim(self.key("dreams"), 0, MAX_DREAMS - 1)
                    p.execute()
                    return replaced
                except redis.WatchError:
                    continue

    # -- clock, usage, budget --------------------------------------------------------------------------

    def _stamp(self, field: str, at: float) -> None:
        p = self.r.pipeline()
        p.hsetnx(self.key("clock"), "first_woke", at)  # once, ever, until wiped
        p.hset(self.key("clock"), field, at)
        p.execute()

    def touch_turn(self, at: float) -> None:
        self._stamp("last_turn", at)

    def start_work(self, at: float) -> None:
        self._stamp("work_started", at)

    def clock(self) -> dict:
        raw = {_s(k): float(_s(v)) for k, v in self.r.hgetall(self.key("clock")).items()}
        return {f: raw.get(f) for f in ("first_woke", "work_started", "last_turn")}

    def add_usage(self, decisions: int, tokens: int, prompt_tokens: int = 0, restarts: int = 0) -> None:
        """Count decisions, tokens generated and prompt tokens evaluated (what the budget charges), and
        context restarts (kept beside them in the bank, not told in `status`)."""
        p = self.r.pipeline()
        for name, amount in (("decisions", decisions), ("tokens", tokens), ("prompt_tokens", prompt_tokens),
                             ("restarts", restarts)):
            if amount:
                p.hincrby(self.key("usage"), name, int(amount))
        p.execute()

    def counters(self) -> dict:
        raw = {_s(k): int(_s(v)) for k, v in self.r.hgetall(self.key("usage")).items()}
        return {name: raw.get(name, 0) for name in USAGE_FIELDS}  # tokens: generated; prompt_tokens: evaluated

    def lists(self, seed: int) -> dict[str, list[str]]:
        """The order of this agent's manual's lists: drawn once with `seed` and kept, so a restart (or a
        changed seed in the roster) keeps the manual the agent has always read."""
        raw = self.r.get(self.key("manual"))
        try:
            kept = json.loads(_s(raw)) if raw is not None else None
        except ValueError:  # a damaged key: draw the lists again rather than never wake
            kept = None
        if valid_lists(kept):
            return kept
        lists = choice_lists(seed)
        self.r.set(self.key("manual"), json.dumps(lists))
        return lists

    def save_budget(self, state: dict) -> None:
        self.r.set(self.key("budget"), json.dumps(state))

    def load_budget(self) -> dict | None:
        raw = self.r.get(self.key("budget"))
        return json.loads(_s(raw)) if raw is not None else None

    def wipe(self) -> None:
        """`--fresh`: delete this agent's keys and nothing else (no SCAN: the bank's key names are fixed)."""
        self.r.delete(*(self.key(k) for k in KEYS))
