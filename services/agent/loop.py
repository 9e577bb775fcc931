"""One resident agent's life: view -> prompt -> generate (under the op grammar) -> ops -> next view.

The model's context grows turn by turn (services/agent/context.py): a turn appends only what is new, and the
title, statement and dream questions are asked beside it (`Generator.aside`), so the turn's KV cache
survives them.

The model chooses everything that is art: the ops, the feelings, when a work is done, its title and the
line about it. This loop only carries its words to the canvas and its memories to its bank, asks for a
title when the model ends a work without one, keeps to the budget, and condenses memory now and then.

The agent keeps a copy of its canvas (the canvas sends its cells with every reply) and plays a decision's
ops on it before sending them, with the canvas's own rules (proto/canvas.py): so it knows which `done` the
canvas will refuse (an empty work: no title is asked for it) and what each finished work looks like, which
is what the title and statement questions show. Every text the model writes is reported with the longest
run of words it shares with the prompt it was written from (`echo`), for the study.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from proto.canvas import CanvasModel
from proto.errors import RemoteError
from proto.messages import ECHO_RUN_MAX, ECHO_WORDS_MAX
from proto.ops.grammar import answer_gbnf, gbnf
from proto.ops.parser import Op, parse
from proto.ops.table import AGENT_LOCAL_OPS, OPS, SALON_OPS
from services.agent.budget import Budget
from services.agent.context import TurnContext
from services.agent.echo import longest_shared_run
from services.agent.memory import MemoryBank
from services.agent.prompt import (News, PromptTooLong, Turn, changed_rows, dream_text, fit, legend, news_text,
                                   question_system, salon_text, statement_text, system_text, title_text, user_text)
from services.agent.roster import AgentSpec
from services.base.log import event
from services.canvas.client import FATAL_CODES, CanvasClient, CanvasGone, RateLimited

log = logging.getLogger("aurora.agent")

MEMORY_CHARS = 1200  # at most this much memory in a prompt (less when the context is tight)
STATEMENT_CHARS = 160
TITLE_CHARS = OPS["title"].args[0].max_len
TITLE_TOKENS = 72  # room for the longest title the grammar allows, so a title is never cut off
STATEMENT_TOKENS = 48
DREAM_LINES, DREAM_CHARS, DREAM_TOKENS = 3, 100, 96
SLACK = 8  # tokens kept free beside a prompt and its longest answer
USAGE_EVERY = 20  # decisions between two `status` messages that say the usage while nothing else changes
TOO_LONG_PAUSE_S = 30.0  # how long an agent whose turn does not fit waits before it tries again
SALON_FEED = 8  # the salon's latest items (by others) a whole prompt shows, in salon mode
SALON_READ_KEPT = 4096  # salon items remembered as read, so that what a welcome repeats is not news again


@dataclass
class Stats:
    decisions: int = 0
    tokens: int = 0          # tokens generated
    prompt_tokens: int = 0   # prompt tokens evaluated (those not kept in the KV cache from the call before)
    ops_sent: int = 0
    ops_applied: int = 0
    ops_rejected: int = 0
    refused: int = 0         # decisions the canvas refused whole (rate_limited, a frame too large, ...)
    unparsed_lines: int = 0  # lines the grammar let through that the parser refused: must stay 0
    works: int = 0
    dreams: int = 0
    too_long: int = 0        # prompts that did not fit the context even at their smallest
    restarts: int = 0        # turns that started the context afresh, after the first
    sent: list[str] = field(default_factory=list)  # every op line sent, for tests and the study


def complete_lines(text: str) -> list[str]:
    """The finished lines of a generation: a last line cut off by the token limit is no op yet."""
    lines = text.split("\n")
    return [line for line in lines[:-1] if line.strip()]


def one_line(text: str, cap: int) -> str:
    """The first finished line of an answer (or all of it, when cut short), spaces collapsed, capped."""
    lines = complete_lines(text) or [text]
    return " ".join(lines[0].split())[:cap]


def model_of(body: dict) -> CanvasModel:
    """The agent's copy of its canvas, from a welcome or result body (its cells and state)."""
    cells = body["cells"]
    return CanvasModel.from_dict({"width": len(cells[0]), "height": len(cells), "cells": cells,
                                  "state": body["state"]})


@dataclass
class Finished:
    work: int
    title: str | None
    view: str  # the work as it is when `done` is applied: what the statement question shows
    rows: list[str]


class Agent:
    def __init__(self, spec: AgentSpec, generator, client: CanvasClient, bank: MemoryBank, budget: Budget,
                 clock=time.time):
        self.spec, self.gen, self.client, self.bank, self.budget = spec, generator, client, bank, budget
        self.clock = clock
        self.stop = threading.Event()
        self.turn_over = False  # set with `stop` when the agent's turn is over: it waits until `waiting_until`
        self.waiting_until: float | None = None
        self.stats = Stats()
        self.lists = bank.lists(spec.seed)  # this agent's order of its manual's lists, kept in its bank
        client.lists = self.lists
        self.mode = ""  # the studio's, told by its welcome (`_set_mode`)
        self._set_mode("isolated")
        self.salon_feed: deque[dict] = deque(maxlen=SALON_FEED)  # the latest of the salon, for a whole prompt
        self._salon_news: list[dict] = []  # what others did in the salon since the last turn, for the next news
        self._salon_read: OrderedDict[tuple, None] = OrderedDict()  # keys of the items read, oldest first
        self.view = ""
        self.state: dict = {}
        self.cells: list[str] = []  # the canvas's rows as the last reply gave them (a copy is played on them)
        self.last_notes: list[str] = []
        self.last_result = ""
        self._said_too_long: set[str] = set()  # prompt kinds already reported as not fitting
        self.ctx = TurnContext(spec.context)
        self._news_own: list[str] = []  # the agent's own words in the next news (titles, dreams)
        self._news_lines: list[str] = []  # works finished and dreams since the last turn, for the next news
        self._look = False  # the model asked to see its whole canvas at its next turn
        self._last_lines: list[str] = []  # the ops of the decision before, to tell a repeated one
        self._base: tuple = (None, "", None)  # (work, view, time): the canvas a whole prompt shows in full
        self._spent = [0, 0, 0.0]  # tokens generated, prompt tokens evaluated, seconds generating: this decision

    # -- life --------------------------------------------------------------------------------------

    def run(self, decisions: int = 0) -> Stats:
        """Decide until stopped (or `decisions` have been made); reconnect whenever the canvas goes away."""
        try:
            self._connect()
            while not self.stop.is_set() and not (decisions and self.stats.decisions >= decisions):
                try:
                    if not self._rest_if_spent():
                        self.decide()
                except CanvasGone as exc:
                    event(log, logging.WARNING, "canvas gone; reconnecting", agent=self.spec.name, reason=str(exc))
                    self._connect()
        except CanvasGone:
            if not self.stop.is_set():
                raise
            # stopped while waiting for the canvas: nothing is owed to anyone
        if self.turn_over and self.client.sock is not None:
            # Its turn is over (services/supervisor/turns.py): the record says until when it waits.
            self._status("waiting", self.waiting_until, "turns")
            event(log, logging.INFO, "waiting its turn", agent=self.spec.name, until=self.waiting_until)
            self.client.close(linger=5.0)
        else:
            self.client.close()
        return self.stats

    def _connect(self) -> None:
        welcome = self.client.connect_with_backoff(should_stop=self.stop.is_set)
        if "cells" not in welcome:  # a 1.5 canvas: the agent could not play its ops on a copy of its canvas
            raise RemoteError("version_mismatch", f"this agent needs a canvas of protocol 1.6 or later (one that "
                              f"sends its cells); this canvas speaks {welcome.get('protocol')!r}: upgrade it")
        self._see(welcome)
        self._set_mode(welcome.get("mode") or "isolated")
        self._read_salon(welcome.get("salon") or [])
        if self.bank.clock()["work_started"] is None:
            self.bank.start_work(self.clock())
        # Whatever it said before it left (resting, waiting its turn) is over; the record says so, with what
        # its bank has counted so far.
        self._status("painting")

    def _set_mode(self, mode: str) -> None:
        """The studio's mode decides the manual and the grammar: the salon's ops only in a salon. A change
        (a canvas restarted in another mode) starts the model's context afresh."""
        if mode == self.mode:
            return
        self.mode = mode
        salon = mode == "salon"
        self.system = system_text(self.spec.name, self.lists, salon=salon)
        self.grammar = gbnf(self.spec.max_ops, salon=salon)
        self.ctx = TurnContext(self.spec.context)

    def _see(self, body: dict) -> None:
        self.view, self.state, self.cells = body["view"], body["state"], body["cells"]

    def _rest_if_spent(self) -> bool:
        until = self.budget.resting_until()
        if until is None:
            return False
        reason = self.budget.state()["reason"]
        self._rest(until, "resting", reason)
        return True

    def _rest(self, until: float, activity: str, reason: str) -> None:
        self._status(activity, until, reason)
        event(log, logging.INFO, f"{activity}", agent=self.spec.name, until=until, reason=reason)
        while not self.stop.is_set() and self.clock() < until:
            self.client.idle()  # heartbeats only: resting costs no model time
            self.stop.wait(min(0.25, max(0.0, until - self.clock())))
        self._status("painting")

    def _status(self, activity: str, until: float | None = None, reason: str | None = None) -> None:
        """Say what the agent is doing, with its usage so far (decisions, tokens generated, prompt tokens
        evaluated: what its budget charges), so that anyone watching sees what it costs."""
        self.client.notify("status", {"activity": activity, "until": until, "reason": reason,
                                      "usage": self.bank.counters()})

    def _too_long(self, kind: str, exc: PromptTooLong) -> None:
        """A prompt that does not fit even at its smallest: said once per kind, counted, never a crash."""
        self.stats.too_long += 1
        if kind not in self._said_too_long:
            self._said_too_long.add(kind)
            event(log, logging.ERROR, "prompt does not fit the context", agent=self.spec.name, prompt=kind,
                  reason=str(exc))

    # -- generation --------------------------------------------------------------------------------

    def _budget(self, answer_tokens: int) -> int:
        return self.spec.context - answer_tokens - SLACK

    def _generate(self, prompt: str | list[int], grammar: str, max_tokens: int, purpose: str = "ops") -> str:
        with self.client.keepalive():
            result = self.gen.generate(prompt, grammar=grammar, max_tokens=max_tokens, stop=self.stop.is_set)
        evaluated = max(0, result.prompt_tokens - result.reused_tokens)
        event(log, logging.INFO, "generated", agent=self.spec.name, purpose=purpose, tokens=result.tokens,
              prompt_tokens=result.prompt_tokens, reused=result.reused_tokens,
              ttft_s=round(result.ttft_s, 3), total_s=round(result.total_s, 3))
        self.stats.tokens += result.tokens
        self.stats.prompt_tokens += evaluated
        self._spent[0] += result.tokens
        self._spent[1] += evaluated
        self._spent[2] += result.total_s
        # Every generation counts, titles, statements and dreams too, and so does reading the prompt: on a
        # CPU most of an agent's time goes to evaluating prompt tokens.
        self.budget.charge(result.tokens + evaluated, decisions=0)
        self.bank.add_usage(0, result.tokens, evaluated)
        if purpose == "ops":
            self.ctx.answered(result.ids, result.text)
        return result.text

    def _echo(self, of: str, work: int, text: str, prompt: str, own: list[str], asked: bool = False,
              studio: str | None = None) -> None:
        """Report `text` with the longest run of words it shares with its `prompt`, and with the studio's words
        in it: the prompt (or `studio`, the turn context without the model's answers) without the parts that
        are the agent's own earlier words (`own`: its memory, its titles, its dreams), so that a model
        repeating itself can be told from one copying what the studio wrote."""
        echo = longest_shared_run(text, prompt)
        studio = prompt if studio is None else studio
        for part in own:
            if part:
                studio = studio.replace(part, "\n")
        from_studio = longest_shared_run(text, studio) if studio != prompt else echo
        self.client.notify("echo", {"of": of, "work": int(work), "words": min(echo.words, ECHO_WORDS_MAX),
                                    "run": echo.run[:ECHO_RUN_MAX],
                                    "studio_words": min(from_studio.words, ECHO_WORDS_MAX),
                                    **({"asked": True} if asked else {})})

    # -- one decision ------------------------------------------------------------------------------

    def _turn_prompt(self, now: float) -> tuple[str, list[str]]:
        """The turn's prompt for the canvas as the agent sees it now, with its memory as it is now, fitted; and
        the parts of it that are the agent's own earlier words (its memory, its work's title)."""
        clock = self.bank.clock()
        shown: list[str] = []

        def build(memory_chars: int) -> str:
            memory = self.bank.render(memory_chars) if memory_chars else ""
            salon = list(self.salon_feed)
            # Others' words are no part of the studio's text either: an echo of them is the salon's influence.
            shown[:] = [memory, self.state.get("title") or "", salon_text(salon) if salon else ""]
            turn = Turn(self.spec.name, self.view, self.state, memory, self.last_notes, self.last_result,
                        now, clock["last_turn"], clock["work_started"], clock["first_woke"],
                        base_view=self._base[1], base_time=self._base[2], salon=salon)
            return self.gen.format(self.system, user_text(turn))

        prompt, _, _ = fit(build, self.gen.count_tokens, self._budget(self.spec.max_tokens), MEMORY_CHARS)
        return prompt, shown

    def _next_prompt(self, now: float) -> str | list[int]:
        """The turn's prompt: the context grown by what is new since the last turn (its tokens), or, when
        that does not fit, or the roster says `grow = false`, the whole prompt afresh (its text). Raises
        PromptTooLong when even the whole prompt at its smallest does not fit."""
        ctx = self.ctx
        growing = self.gen.can_grow and self.spec.grow
        if ctx.started and growing:
            news = news_text(News(self.last_result, self.view, ctx.seen_view, self.state, ctx.seen_state, now,
                                  self.bank.clock()["last_turn"], self._news_lines, self._look, self._salon_news,
                                  ctx.seen_time))
            joint, text = self.gen.joint(news)
            if ctx.fits(len(joint), self.spec.max_tokens + SLACK):
                others = salon_text(self._salon_news) if self._salon_news else ""
                ctx.extend(joint, text, own=[self.state.get("title") or "", *self._news_own, others])
                ctx.saw(self.view, self.state, now)
                return list(ctx.tokens)  # a copy: the context grows on after this turn
        # The canvas in a whole prompt: its view at the last *base* (kept, so its KV cache is), then the rows
        # changed since. A new base when the work changes, when most rows changed, after `look`, and always
        # when a growing context starts afresh.
        rebase = (growing or self._look or self._base[0] != self.state.get("work")
                  or changed_rows(self._base[1], self.view) is None)
        if rebase:
            self._base = (self.state.get("work"), self.view, now)
        prompt, own = self._turn_prompt(now)
        restarted = ctx.started and rebase
        ctx.start(self.gen.tokenize(prompt) if self.gen.can_grow else [], prompt, own)
        ctx.saw(self.view, self.state, now)
        if restarted:
            self.stats.restarts += 1
            self.bank.add_usage(0, 0, 0, restarts=1)
        return prompt

    def decide(self) -> None:
        t0 = time.perf_counter()
        self._spent = [0, 0, 0.0]
        restarts = self.stats.restarts
        now = self.clock()
        try:
            prompt = self._next_prompt(now)
        except PromptTooLong as exc:
            self._too_long("turn", exc)
            self._rest(self.clock() + TOO_LONG_PAUSE_S, "waiting", "prompt_too_long")
            return
        self._news_lines, self._news_own, self._look, self._salon_news = [], [], False, []
        seen = (self.ctx.text, self.ctx.studio, list(self.ctx.own))  # what the model read, for echoes
        text = self._generate(prompt, self.grammar, self.spec.max_tokens)
        ops = []
        for item in parse("\n".join(complete_lines(text))):
            if isinstance(item, Op):
                ops.append(item)
            else:
                self.stats.unparsed_lines += 1
                event(log, logging.ERROR, "grammar let an unparsable line through", line=item.text, reason=item.reason)
        now = self.clock()
        to_send, finished = self._play(ops, *seen)
        lines = [op.text for op in ops]
        repeated, self._last_lines = bool(lines) and lines == self._last_lines, lines
        if to_send:
            try:
                reply = self.client.decide("\n".join(to_send))
            except RemoteError as exc:  # CanvasGone (a resync) goes up to run(), which reconnects
                self._refused(exc)
                return
            self._take(reply, to_send, finished, now)
        else:
            self.last_result = "no op sent to the canvas"
        self.stats.decisions += 1
        self.bank.touch_turn(now)
        self.bank.add_usage(1, 0, 0)
        self.budget.charge(0, decisions=1)
        self.bank.save_budget(self.budget.to_dict())
        if self.stats.decisions % USAGE_EVERY == 0:
            self._status("painting")
        if len(self.bank.pending_entries()) >= self.spec.dream_every:
            self.dream()
        # One line per decision (at AURORA_LOG=info) for `aurora bench studio`: what it cost, all generations
        # of the decision included (a title, a statement, a dream).
        event(log, logging.INFO, "decided", agent=self.spec.name, tokens=self._spent[0],
              prompt_tokens=self._spent[1], restarted=self.stats.restarts > restarts,
              seconds=round(time.perf_counter() - t0, 4), generating_s=round(self._spent[2], 4), repeated=repeated)

    def _refused(self, exc: RemoteError) -> None:
        """The canvas refused the whole decision: nothing of it was applied. Rest as long as a rate limit asks;
        any other refusal is the agent's own mistake, said and counted, and the agent goes on."""
        if exc.code in FATAL_CODES:
            raise exc
        self.stats.refused += 1
        self.last_result = f"no op applied: the canvas refused the decision ({exc.code})"
        if isinstance(exc, RateLimited):
            self._rest(self.clock() + exc.retry_after, "resting", "rate_limited")
        else:
            event(log, logging.ERROR, "the canvas refused a decision", agent=self.spec.name, code=exc.code,
                  reason=exc.reason)

    def _play(self, ops: list[Op], prompt: str, studio: str, own: list[str]) -> tuple[list[str], list[Finished]]:
        """The lines to send, played first on a copy of the canvas: remember-notes go to the bank instead; a
        `done` that the canvas will accept gets a title when it has none (the model writes it now, looking
        at the finished work); one it will refuse is sent as it is, to be refused and counted."""
        sim = model_of({"cells": self.cells, "state": self.state})
        lines: list[str] = []
        finished: list[Finished] = []
        for op in ops:
            if op.name == "look":
                self._look = True
                continue
            if op.name in AGENT_LOCAL_OPS:
                self.bank.remember(op.args[0], self.clock())
                self._echo("remember", sim.work, op.args[0], prompt, own, studio=studio)
                continue
            if op.name in SALON_OPS:  # the board's, not the canvas's: the copy has nothing to play
                if op.name == "reply":
                    self._echo("reply", sim.work, op.args[1], prompt, own, studio=studio)
                lines.append(op.text)
                continue
            if op.name == "title" and op.args[0] != sim.title:  # the work's title again is no new text
                self._echo("title", sim.work, op.args[0], prompt, own, studio=studio)
            refused = sim.refusal(op) is not None
            if op.name == "done" and not refused:
                work = Finished(sim.work, sim.title, sim.view(**self._finished_view()), list(sim.rows()))
                if work.title is None:
                    work.title = self._ask_title(work)
                    if work.title is not None:
                        named = Op("title", (work.title,))
                        sim.apply(named)
                        lines.append(named.text)
                finished.append(work)
            if not refused:
                sim.apply(op)
            lines.append(op.text)
        return lines, finished

    def _finished_view(self) -> dict[str, bool]:
        """A finished work is shown without the cursor, which is a tool and not part of it."""
        return {**self.spec.view, "cursor": False}

    def _ask(self, purpose: str, work: int, user: str, grammar: str, max_tokens: int, cap: int, own: list[str],
             asked: bool = False) -> str | None:
        """A question's one-line answer (a title, a statement), asked in a prompt of its own and reported with
        its echo; None when the question does not fit the context (said once) or the answer is empty."""
        prompt = self.gen.format(question_system(self.spec.name), user, cue=None)
        if self.gen.count_tokens(prompt) > self._budget(max_tokens):
            self._too_long(purpose, PromptTooLong(f"the {purpose} question does not fit {self.spec.context} tokens"))
            return None
        with self.gen.aside():  # the turn's context is kept and found again after the question
            text = one_line(self._generate(prompt, grammar, max_tokens, purpose), cap)
        if text:
            self._echo(purpose, work, text, prompt, own, asked)
        return text or None

    def _ask_title(self, work: Finished) -> str | None:
        """A title for a work ended by a `done` without one, asked on the work as it is at `done`."""
        user = title_text(self.spec.name, work.work, work.view, legend(work.rows, self.lists["colour"]))
        return self._ask("title", work.work, user, answer_gbnf(TITLE_CHARS, quotes=False), TITLE_TOKENS,
                         TITLE_CHARS, [], asked=True)

    def _read_salon(self, items: list[dict]) -> None:
        """What others did in the salon, for the next turns: the items not read before (a welcome after a
        reconnect repeats the latest ones)."""
        for item in items:
            key = _salon_key(item)
            if key in self._salon_read:
                continue
            self._salon_read[key] = None
            if len(self._salon_read) > SALON_READ_KEPT:
                self._salon_read.popitem(last=False)
            self.salon_feed.append(item)
            self._salon_news.append(item)

    def _take(self, reply: dict, sent: list[str], finished: list[Finished], now: float) -> None:
        """Update what the agent knows from the canvas's reply; remember feelings and finished works."""
        self._see(reply)
        self._read_salon(reply.get("salon") or [])
        self.stats.sent.extend(sent)
        self.stats.ops_sent += len(sent)
        self.stats.ops_applied += len(reply["applied"])
        self.stats.ops_rejected += sum(r.get("count", 1) for r in reply["rejected"])
        for line in reply["applied"]:
            if line.startswith("feel "):
                self.bank.record_feel(line[5:], now)
        if reply["notes"]:
            self.last_notes = (self.last_notes + [f"{n['pitch']} {n['duration']} {n['velocity']}"
                                                  for n in reply["notes"]])[-8:]
        rejected = "; ".join(f"{r['text']} ({r['reason']})" if "count" not in r else
                             f"{r['count']} more lines ({', '.join(sorted(r.get('codes') or {}))})"
                             for r in reply["rejected"])
        applied = len(reply["applied"])
        said = [] if rejected and not applied else [f"{applied} op{'' if applied == 1 else 's'} applied"]
        self.last_result = "; ".join(said + ([f"refused: {rejected}"] if rejected else []))
        done = sum(1 for line in reply["applied"] if line == "done")
        for work in finished[:done]:  # the canvas applied what the copy did; `[:done]` only if they disagree
            statement = self._ask_statement(work)
            if statement:
                self.client.notify("statement", {"work": work.work, "text": statement})
            self.bank.record_work(work.work, work.title, statement, now)
            self._news_lines.append(f"Work {work.work} is finished; its title: {work.title or 'none'}.")
            self._news_own.append(work.title or "")
            self.stats.works += 1
        if done:
            self.bank.start_work(now)

    def _ask_statement(self, work: Finished) -> str | None:
        """The model's line about a work it finished, asked on the work as it is after `done`, with its title
        (the agent's own words in that prompt)."""
        user = statement_text(self.spec.name, work.work, work.title, work.view, legend(work.rows, self.lists["colour"]))
        return self._ask("statement", work.work, user, answer_gbnf(STATEMENT_CHARS), STATEMENT_TOKENS,
                         STATEMENT_CHARS, [work.title or ""])

    # -- dreams ------------------------------------------------------------------------------------

    def dream(self) -> None:
        """Condense the memories waiting in the bank into a few lines of the model's own.

        The dream shows as many of the waiting memories as fit the context, oldest first (halved until they
        fit), and replaces exactly those it showed: the rest wait for the next dream."""
        pending = self.bank.pending_entries()
        if not pending:
            return
        system = question_system(self.spec.name)

        def build(count: int) -> str:
            return self.gen.format(system, dream_text(self.spec.name, [line for _, line in pending[:count]],
                                                      DREAM_LINES), cue=None)

        try:
            prompt, _, shown = fit(build, self.gen.count_tokens, self._budget(DREAM_TOKENS), len(pending),
                                   smallest=1, floor=1)
        except PromptTooLong as exc:
            self._too_long("dream", exc)
            return
        self._status("dreaming", reason="memory")
        with self.gen.aside():
            text = self._generate(prompt, answer_gbnf(DREAM_CHARS, lines=DREAM_LINES), DREAM_TOKENS, "dream")
        lines = complete_lines(text) or [text.strip()]
        dream = " / ".join(" ".join(line.split()) for line in lines if line.strip())
        if dream:
            self.bank.consolidate(dream, self.clock(), upto=pending[shown - 1][0])
            self.stats.dreams += 1
            self._news_lines.append(f"Your memory, condensed: {dream}")
            self._news_own.append(dream)
            self._echo("dream", self.state.get("work", 1), dream, prompt, [line for _, line in pending[:shown]])
        self._status("painting")


def _salon_key(item: dict) -> tuple:
    """Which item of the salon this is, whichever message brought it: a post by its number (a welcome's post
    carries no `seq`, and its reactions may have changed since), a reply or reaction by its event's `seq`."""
    return ("post", item.get("post")) if item.get("kind") == "post" else (item.get("kind"), item.get("post"),
                                                                           item.get("seq"))
