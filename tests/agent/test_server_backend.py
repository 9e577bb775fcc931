"""The server backend against a real llama-cpp-python server (`python -m llama_cpp.server`, the bundled SmolLM2)
and `aurora serve`: ops under the op grammar enforced by the server, a server that is down or refuses, and an
agent that paints through it in a real studio, waits while the server is killed mid-turn and resumes."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time

import httpx
import pytest

from proto.ops.grammar import gbnf
from proto.ops.parser import Op, parse
from services.agent.loop import complete_lines
from services.agent.memory import MemoryBank, agent_url, grant
from services.agent.prompt import system_text
from services.agent.server_backend import ChatPrompt, ServerGenerator, ServerRefused
from services.base.redis_server import free_loopback_port
from services.bench.model_servers import ModelServer, available
from services.canvas.replica import Replica
from services.base.keys import PROOF_ENV, Keys
from tests.support.processes import addr_args, aurora, canvas_process, wait_until

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

USER = "Your canvas is empty. Paint."


@pytest.fixture(scope="module")
def server(model_paths, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.log"
    s = ModelServer(model_paths("smollm2-135m"), log=log).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def aurora_server(model_paths, tmp_path_factory):
    log = tmp_path_factory.mktemp("aurora-serve") / "server.log"
    s = ModelServer(model_paths("smollm2-135m"), kind="aurora", log=log).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def llama_cpp_server(model_paths, tmp_path_factory):
    """llama.cpp's own `llama-server`, where this machine has one (the project does not install it): this
    checks the "llama.cpp" dialect there, and is skipped elsewhere."""
    if available("llama.cpp") is not None:
        pytest.skip(available("llama.cpp"))
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    s = ModelServer(model_paths("smollm2-135m"), kind="llama.cpp", log=log).start()
    yield s
    s.stop()


@pytest.mark.parametrize("kind, dialect", [("server", "llama-cpp-python"), ("aurora_server", "llama-cpp-python"),
                                           ("llama_cpp_server", "llama.cpp")])
def test_ops_from_the_server_parse_under_the_op_grammar(kind, dialect, request):
    server = request.getfixturevalue(kind)
    grammar = gbnf(8)
    with ServerGenerator(server.url, "smollm2", dialect=dialect, seed=3) as gen:
        prompt = gen.format(system_text("smol"), USER)
        assert isinstance(prompt, ChatPrompt) and USER in prompt
        assert gen.count_tokens(prompt) > gen.count_tokens(system_text("smol"))
        items = []
        for _ in range(3):  # each decision parses on its own (one `done` at most in each)
            result = gen.generate(prompt, grammar=grammar, max_tokens=48)
            assert result.tokens > 0 and result.prompt_tokens > 0 and result.finish in ("eos", "length")
            items += parse("\n".join(complete_lines(result.text)))
        assert items and all(isinstance(item, Op) for item in items), items
        # the raw form (a base model's plain document) goes to /v1/completions under the same grammar
        raw = ServerGenerator(server.url, "smollm2", dialect=dialect, chat="raw")
        result = raw.generate(raw.format(system_text("smol"), USER), grammar=grammar, max_tokens=24)
        assert all(isinstance(item, Op) for item in parse("\n".join(complete_lines(result.text))))
        raw.close()


def test_a_server_that_is_down_is_waited_for_until_stopped():
    gen = ServerGenerator(f"http://127.0.0.1:{free_loopback_port()}", "m", backoff_max_s=0.2)
    timer = threading.Timer(1.5, lambda: None)
    timer.start()
    t0 = time.monotonic()
    result = gen.generate("anything", grammar=gbnf(8), max_tokens=4, stop=lambda: not timer.is_alive())
    assert result.stopped and result.text == "" and result.finish == "stop"
    assert gen.retries >= 2 and time.monotonic() - t0 < 10
    gen.close()


def test_a_request_the_server_refuses_says_what_to_change(server):
    with ServerGenerator(server.url, "smollm2") as gen:
        with pytest.raises(ServerRefused, match="refused the request.*context"):
            gen.generate("word " * 3000, grammar=gbnf(8), max_tokens=8)  # longer than the server's context
        assert gen.retries == 0  # said at once: the stream the server broke off is not taken for an outage


def test_a_grammar_the_server_cannot_read_is_refused_at_start_up(model_paths, tmp_path):
    # llama-cpp-python's server crashes on a GBNF it cannot parse (a segfault, 0.3.36): `check` says so
    bad = ModelServer(model_paths("smollm2-135m"), log=tmp_path / "server.log").start()
    try:
        with ServerGenerator(bad.url, "smollm2") as gen:
            with pytest.raises(ServerRefused, match="op grammar"):
                gen.check("root ::= undefined-rule")
    finally:
        bad.stop()


def test_aurora_serve_refuses_what_it_cannot_serve_with_a_reason(aurora_server):
    with ServerGenerator(aurora_server.url, "smollm2") as gen:
        with pytest.raises(ServerRefused, match="400.*grammar"):
            gen.check("root ::= undefined-rule")
        with pytest.raises(ServerRefused, match="400.*context"):
            gen.generate("word " * 3000, grammar=gbnf(8), max_tokens=8)
        gen.check(gbnf(8))  # and it serves on
    for body in (b"{not json", b"[]", b'{"prompt": 7}', b'{"prompt": "x", "max_tokens": "many"}',
                 b'{"messages": [{"role": "tool", "content": "x"}]}', b'{"prompt": "x", "temperature": "hot"}'):
        route = "/v1/chat/completions" if b"messages" in body else "/v1/completions"
        reply = httpx.post(aurora_server.url + route, content=body, timeout=30)
        assert reply.status_code == 400 and reply.json()["error"]["message"], body
    assert aurora_server.answers()


def test_aurora_serve_wants_its_key_when_it_has_one(model_paths, tmp_path, monkeypatch):
    monkeypatch.setenv("AURORA_TEST_SERVE_KEY", "k1")
    keyed = ModelServer(model_paths("smollm2-135m"), kind="aurora", api_key_env="AURORA_TEST_SERVE_KEY",
                        log=tmp_path / "server.log").start()
    try:
        with pytest.raises(ServerRefused, match="401.*api_key_env"):
            ServerGenerator(keyed.url, "smollm2", api_key="wrong").check(gbnf(8))
        ServerGenerator(keyed.url, "smollm2", api_key="k1").check(gbnf(8))
    finally:
        keyed.stop()


ROSTER = """
[defaults]
context = 2048
max_ops = 8
max_tokens = 48
dream_every = 20
[defaults.budget]
tokens_per_hour = 1000000
decisions_per_minute = 1000

[[agent]]
name = "served"
model = "smollm2"
backend = "openai"
url = "{url}"
seed = 2
"""
DECISIONS = 8


@pytest.mark.timeout(900)
def test_an_agent_paints_through_the_server_and_waits_out_a_killed_server(server, tmp_path, redis_server, admin):
    roster = tmp_path / "roster.toml"
    roster.write_text(ROSTER.format(url=server.url))
    with canvas_process() as (_, addrs):
        replica = Replica(addrs.events, addrs.snapshots)
        replica.sync()
        memory = agent_url(redis_server.url, "served", grant(admin, "served"))
        proc = aurora("agent", "served", "--roster", str(roster), "--decisions", str(DECISIONS), "--fresh",
                      *addr_args(addrs), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                      env_extra={"AURORA_MEMORY_URL": memory, "AURORA_DATA": str(tmp_path / "data"),
                                 "AURORA_LOG": "info",  # info: httpx logs each request as its reply begins
                                 # its own data folder, not the canvas's: the studio gives it the proof of its name
                                 PROOF_ENV: Keys.studio().hello_proof("served")})
        err_lines: list[str] = []
        reader = threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True)
        reader.start()

        def streams() -> int:
            return sum(1 for line in list(err_lines) if "/v1/chat/completions" in line)

        try:
            bank = MemoryBank(admin, "served")
            wait_until(lambda: bank.counters()["decisions"] >= 1 or proc.poll() is not None, timeout=300,
                       what="a first decision through the server")
            assert proc.poll() is None, "".join(err_lines)[-2000:]
            # mid-turn: the next generation's reply has begun streaming (the server sends its headers with
            # the first token) when the server is killed
            begun = streams()
            wait_until(lambda: streams() > begun or proc.poll() is not None, timeout=120, what="a turn streaming")
            server.kill()
            before = bank.counters()["decisions"]
            time.sleep(3)  # the server stays down a while: the agent must wait, neither fail nor decide
            assert proc.poll() is None, "the agent exited while its server was down"
            assert bank.counters()["decisions"] <= before + 1  # at most a turn whose reply had just ended
            server.start()  # the same port: the agent finds it again
            out = proc.stdout.read()
            proc.wait(timeout=600)
            reader.join(timeout=10)
            err = "".join(err_lines)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err[-3000:]
        print(out[-2000:], "\n".join(line for line in err.splitlines() if "inference server" in line))
        stats = json.loads(re.search(r"aurora agent served stopped: (\{.*\})", out).group(1))
        assert stats["decisions"] == DECISIONS == bank.counters()["decisions"]
        assert stats["unparsed_lines"] == 0  # the server's grammar let nothing through that the agent refused
        assert stats["ops_sent"] > 0
        assert "inference server not answering" in err and "inference server back" in err
        replica.wait_for(lambda r: r.poll(0.05) is not None and r.canvases.get("served") is not None
                         and r.canvases["served"].ops >= stats["ops_applied"], timeout=30)
        assert replica.canvases["served"].ops == stats["ops_applied"]  # nothing lost, nothing sent twice
        replica.close()
