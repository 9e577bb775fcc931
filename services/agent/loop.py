"""One resident agent's life: view -> prompt -> generate (under the op grammar) -> ops -> next view.

The model chooses everything that is art: the ops, the feelings, when a work is done, its title and the
line about it. This loop only carries its words to the canvas and its memories to its bank, asks for a
title when the model ends a work without one, keeps to the budget, and condenses memory now and then.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from proto.ops.grammar import gbnf, single_op_gbnf, text_lines_gbnf
from proto.ops.parser import Op, parse
from proto.ops.table import AGENT_LOCAL_OPS
from services.agent.budget import Budget
from services.agent.memory import MemoryBank
from services.agent.prompt import Turn, fit, system_text, user_text
from services.agent.roster import AgentSpec
from services.base.log import event
from services.canvas.client import CanvasClient, CanvasGone

log = logging.getLogger("aurora.agent")

MEMORY_CHARS = 1200  # at most this much memory in a prompt (less when the context is tight)
STATEMENT_CHARS = 160
TITLE_TOKENS = 72  # room for the longest title the grammar allows, so a title is never cut off
DREAM_LINES, DREAM_CHARS = 3, 100


@dataclass
class Stats:
    decisions: int = 0
    tokens: int = 0
    ops_sent: int = 0
    ops_applied: int = 0
    ops_rejected: int = 0
    unparsed_lines: int = 0  # lines the grammar let through that the parser refused: must stay 0
    works: int = 0
    dreams: int = 0
    sent: list[str] = field(default_factory=list)  # every op line sent, for tests and the study


def complete_lines(text: str) -> list[str]:
    """The finished lines of a generation: a last line cut off by the token limit is no op yet."""
    lines = text.split("\n")
    return [line for line in lines[:-1] if line.strip()]


class Agent:
    def __init__(self, spec: AgentSpec, generator, client: CanvasClient, bank: MemoryBank, budget: Budget,
                 clock=time.time):
        self.spec, self.gen, self.client, self.bank, self.budget = spec, generator, client, bank, budget
        self.clock = clock
        self.stop = threading.Event()
        self.stats = Stats()
        self.grammar = gbnf(spec.max_ops)
        self.system = system_text(spec.name)
        self.view = ""
        self.state: dict = {}
        self.last_notes: list[str] = []
        self.last_result = ""
        # The memory shown in prompts is read at waking and after each dream, not per decision: what the
        # model just did is in its state and canvas already, and a memory section that stays the same keeps
        # the prompt's long prefix (manual, memory) in llama.cpp's KV cache from turn to turn.
        self._memory: dict[int, str] = {}

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
        self.client.close()
        return self.stats

    def _connect(self) -> None:
        welcome = self.client.connect_with_backoff(should_stop=self.stop.is_set)
        self.view, self.state = welcome["view"], welcome["state"]
        now = self.clock()
        clock = self.bank.clock()
        if clock["work_started"] is None:
            self.bank.start_work(now)

    def _rest_if_spent(self) -> bool:
        until = self.budget.resting_until()
        if until is None:
            return False
        reason = self.budget.state()["reason"]
        self.client.notify("status", {"activity": "resting", "until": until, "reason": reason})
        event(log, logging.INFO, "budget spent; resting", agent=self.spec.name, until=until, reason=reason)
        while not self.stop.is_set() and self.clock() < until:
            self.client.idle()  # heartbeats only: resting costs no model time
            self.stop.wait(min(0.25, max(0.0, until - self.clock())))
        self.client.notify("status", {"activity": "painting", "until": None, "reason": None})
        return True

    # -- one decision ------------------------------------------------------------------------------

    def _prompt(self, extra: str = "", seen: tuple[str, dict] | None = None) -> str:
        """The prompt for the canvas as the agent sees it now, or as `seen` (view, state) before a reply."""
        view, state = seen or (self.view, self.state)
        clock = self.bank.clock()
        # Room for the longest generation asked on this prompt (a decision, or a title) and a little slack.
        budget = self.spec.context - max(self.spec.max_tokens, TITLE_TOKENS) - 8

        def build(memory_chars: int) -> str:
            turn = Turn(self.spec.name, view, state, self._memory_text(memory_chars),
                        self.last_notes, self.last_result, self.clock(), clock["last_turn"],
                        clock["work_started"], clock["first_woke"])
            return self.gen.format(self.system, user_text(turn) + extra)

        prompt, _ = fit(build, self.gen.count_tokens, budget, MEMORY_CHARS)
        return prompt

    def _memory_text(self, chars: int) -> str:
        if chars not in self._memory:
            self._memory[chars] = self.bank.render(chars) if chars else ""
        return self._memory[chars]

    def _generate(self, prompt: str, grammar: str, max_tokens: int, purpose: str = "ops") -> str:
        with self.client.keepalive():
            result = self.gen.generate(prompt, grammar=grammar, max_tokens=max_tokens, stop=self.stop.is_set)
        event(log, logging.INFO, "generated", agent=self.spec.name, purpose=purpose, tokens=result.tokens,
              prompt_tokens=result.prompt_tokens, reused=result.reused_tokens,
              ttft_s=round(result.ttft_s, 3), total_s=round(result.total_s, 3))
        self.stats.tokens += result.tokens
        self.budget.charge(result.tokens, decisions=0)  # every generation counts: titles, statements, dreams
        self.bank.add_usage(0, result.tokens)
        return result.text

    def decide(self) -> None:
        text = self._generate(self._prompt(), self.grammar, self.spec.max_tokens)
        ops = []
        for item in parse("\n".join(complete_lines(text))):
            if isinstance(item, Op):
                ops.append(item)
            else:
                self.stats.unparsed_lines += 1
                event(log, logging.ERROR, "grammar let an unparsable line through", line=item.text, reason=item.reason)
        now = self.clock()
        to_send, finished = self._with_titles(ops)
        if to_send:
            reply = self.client.decide("\n".join(to_send))
            self._take(reply, to_send, finished, now)
        self.stats.decisions += 1
        self.bank.touch_turn(now)
        self.bank.add_usage(1, 0)
        self.budget.charge(0, decisions=1)
        self.bank.save_budget(self.budget.to_dict())
        if len(self.bank.pending_consolidation()) >= self.spec.dream_every:
            self.dream()

    def _with_titles(self, ops: list[Op]) -> tuple[list[str], list[str | None]]:
        """The lines to send: remember-notes go to the bank instead; a `done` without a title gets one the
        model writes now. Returns the lines and the title of each work the decision finishes."""
        lines: list[str] = []
        finished: list[str | None] = []
        title = self.state.get("title")
        for op in ops:
            if op.name in AGENT_LOCAL_OPS:
                self.bank.remember(op.args[0], self.clock())
                continue
            if op.name == "title":
                title = op.args[0]
            elif op.name == "done":
                if title is None:
                    title = self._ask_title(lines)
                    if title is not None:
                        lines.append(f'title "{title}"')
                finished.append(title)
                title = None
            lines.append(op.text)
        return lines, finished

    def _ask_title(self, pending: list[str]) -> str | None:
        extra = "\n\nYou end this work now"
        extra += (" after: " + "; ".join(pending) + ".") if pending else "."
        extra += " It has no title yet."
        line = self._generate(self._prompt(extra), single_op_gbnf("title"), TITLE_TOKENS, "title")
        parsed = parse(line)
        return parsed[0].args[0] if parsed and isinstance(parsed[0], Op) else None

    def _take(self, reply: dict, sent: list[str], finished: list[str | None], now: float) -> None:
        """Update what the agent knows from the canvas's reply; remember feelings and finished works."""
        work_before = self.state.get("work", 1)
        seen = (self.view, self.state)
        self.view, self.state = reply["view"], reply["state"]
        self.stats.sent.extend(sent)
        self.stats.ops_sent += len(sent)
        self.stats.ops_applied += len(reply["applied"])
        self.stats.ops_rejected += len(reply["rejected"])
        for line in reply["applied"]:
            if line.startswith("feel "):
                self.bank.record_feel(line[5:], now)
        if reply["notes"]:
            self.last_notes = (self.last_notes + [f"{n['pitch']} {n['duration']} {n['velocity']}"
                                                  for n in reply["notes"]])[-8:]
        rejected = "; ".join(f"{r['text']} ({r['reason']})" for r in reply["rejected"])
        self.last_result = f"{len(reply['applied'])} ops applied" + (f"; refused: {rejected}" if rejected else "")
        for offset, title in enumerate(finished):
            work = work_before + offset
            statement = self._ask_statement(work, title, seen)
            if statement:
                self.client.notify("statement", {"work": work, "text": statement})
            self.bank.record_work(work, title, statement, now)
            self.stats.works += 1
        if finished:
            self.bank.start_work(now)

    def _ask_statement(self, work: int, title: str | None, seen: tuple[str, dict]) -> str | None:
        """The model's line about a work it finished, asked on the prompt it decided on (still in the KV
        cache) with a question added, so only the question is read anew."""
        name = f'"{title}"' if title else "untitled"
        extra = f"\n\nYou have finished work {work}, {name}. One line about it:"
        text = self._generate(self._prompt(extra, seen), text_lines_gbnf(1, STATEMENT_CHARS), 48, "statement")
        lines = complete_lines(text) or [text]
        return " ".join(lines[0].split())[:STATEMENT_CHARS] or None

    # -- dreams ------------------------------------------------------------------------------------

    def dream(self) -> None:
        """Condense the memories waiting in the bank into a few lines of the model's own."""
        pending = self.bank.pending_consolidation()
        if not pending:
            return
        self.client.notify("status", {"activity": "dreaming", "until": None, "reason": "memory"})
        upto = self.clock()
        # All of them: whatever the dream replaces, the model has read (the roster caps dream_every to keep
        # this short).
        memories = "\n".join(f"- {line}" for line in pending)
        prompt = self.gen.format(self.system, f"Your memories:\n{memories}\n\nThe same, in at most "
                                              f"{DREAM_LINES} short lines of your own:")
        text = self._generate(prompt, text_lines_gbnf(DREAM_LINES, DREAM_CHARS), 96, "dream")
        lines = complete_lines(text) or [text.strip()]
        dream = " / ".join(" ".join(line.split()) for line in lines if line.strip())
        if dream:
            self.bank.consolidate(dream, self.clock(), upto=upto)
            self.stats.dreams += 1
            self._memory.clear()
        self.client.notify("status", {"activity": "painting", "until": None, "reason": None})
