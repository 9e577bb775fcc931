"""A reader that reconnects does not read again what it read before: the canvas's welcome repeats the latest of
the salon (its items without `seq`), and the agent keeps only what it had not seen.

A real agent loop (services/agent/loop.py) on a real canvas process in salon mode, with a scripted stand-in for
its model (NOT a model: tests/agent/test_loop.py's ScriptedGenerator) that answers only `move up`."""

from __future__ import annotations

from services.canvas.client import CanvasClient
from tests.agent.test_loop import make_agent
from tests.support.processes import canvas_process


ROSTER = """
[defaults.salon]
reply_seconds = 0.001

[[agent]]
name = "mallory"
model = "m.gguf"
"""


def test_a_reconnected_reader_reads_each_post_and_reply_once(connect_as, names, tmp_path):
    reader = names("rita")
    roster = tmp_path / "roster.toml"
    roster.write_text(ROSTER)  # mallory may reply again at once
    with canvas_process("--mode", "salon", "--roster", str(roster)) as (_, addrs):
        trudy, mallory = CanvasClient("trudy", addrs.agents), CanvasClient("mallory", addrs.agents)
        trudy.connect_with_backoff()
        mallory.connect_with_backoff()
        agent, gen = make_agent(addrs, connect_as, reader, ["move up\n"] * 12)
        decide = gen.generate

        def others_write_meanwhile(prompt, **kw):  # while the reader decides its second time
            if len(gen.prompts) == 1:
                trudy.decide('pen down\nmove right 4\ntitle "Plain"\ndone\npost')
                assert mallory.decide('reply 1 "later words"')["applied"] == ['reply 1 "later words"']
            return decide(prompt, **kw)

        gen.generate = others_write_meanwhile
        agent.run(decisions=3)  # a turn's result brings the post and the reply
        assert 'titled "Plain"' in gen.prompts[-1]
        agent.run(decisions=5)  # it connects again: the welcome holds the post and the reply it has read
        text = agent.ctx.text
        assert text.count('> post 1 by trudy: work 1, titled "Plain"') == 1, text
        assert text.count('by mallory: "later words"') == 1, text
        assert mallory.decide('reply 1 "later words"')["applied"]  # the same words again: another reply
        agent.run(decisions=7)  # it connects again: the welcome holds both replies, one of them new
        assert agent.ctx.text.count('by mallory: "later words"') == 2, agent.ctx.text
        trudy.close()
        mallory.close()
