"""docker-compose.yml and the Dockerfile: valid for Docker Compose, wired as the studio needs, and every command
they run works.

No Docker engine runs here. Debian's docker-compose validates the file and substitutes its variables (`config`
needs no engine); then every Aurora service's command, environment and healthcheck, as compose gives them, run
here as real processes in the order compose would start them, with only the host names turned to loopback and
the ports to free ones (the mounted files are copies rewritten the same way). EmbeddedRedis stands in for the
valkey image, and its healthcheck runs with redis-cli. A scripted, non-LLM agent paints through that studio; the
LLM agent services run their own commands with the bundled models until each has made a decision.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import urlopen

import pytest
import redis

from services.agent import roster as rosters
from services.agent.memory import user_name
from services.base.redis_server import EmbeddedRedis
from services.cli import build_parser
from services.tools.grant_cmd import password_env
from tests.support.processes import ROOT, free_port, stop, wait_until

yaml = pytest.importorskip("yaml")  # PyYAML comes with uvicorn[standard]

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
IN_CI = os.environ.get("CI") == "true"
URL = re.compile(r"(?P<head>(?:tcp|redis|http)://(?:[^@/\s]*@)?)(?P<host>[\w.*-]+):(?P<port>\d+)")
VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<plain>[A-Za-z_]\w*))")


def needs(tool: str) -> str:
    """The path of `tool`; the test is skipped without it, and fails without it under CI (`make test` installs it)."""
    found = shutil.which(tool)
    if found is None:
        if IN_CI:
            pytest.fail(f"{tool} is missing under CI: `make test` installs it (Makefile, compose-tools)")
        pytest.skip(f"no {tool} (sudo apt-get install --no-install-recommends docker-compose redis-tools)")
    return found


# -- the file, as compose reads it ---------------------------------------------------------------------------

def secrets_for_test() -> dict[str, str]:
    """A value for every variable the file uses, as the header's recipe makes them (hex)."""
    text = re.sub(r"(?m)^\s*#.*$", "", COMPOSE.read_text())  # the header's examples are no variables
    names = {m.group("braced") or m.group("plain") for m in VARIABLE.finditer(text)} - {None}
    return {name: secrets.token_hex(12) for name in sorted(names)}


def interpolate(value, env: dict[str, str]):
    """Compose's variable substitution: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group("braced") or m.group("plain"), m.group("op") or "", m.group("arg") or ""
        unset = not env.get(name) if op.startswith(":") else name not in env
        if op.endswith("-") and unset:
            return arg
        if op.endswith("?") and unset:
            raise ValueError(f"{name}: {arg}")
        return env.get(name, "")

    return VARIABLE.sub(one, value)


def unescape(value):
    """docker-compose's `config` output keeps `$$` (it is a compose file again); a container sees `$`."""
    if isinstance(value, dict):
        return {k: unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unescape(v) for v in value]
    return value.replace("$$", "$") if isinstance(value, str) else value


def by_docker_compose(env: dict[str, str]) -> dict:
    out = subprocess.run([needs("docker-compose"), "-f", str(COMPOSE), "config"], env={**os.environ, **env},
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return unescape(yaml.safe_load(out.stdout))


def by_this_test(env: dict[str, str]) -> dict:
    return {k: v for k, v in interpolate(yaml.safe_load(COMPOSE.read_text()), env).items() if not k.startswith("x-")}


@pytest.fixture(scope="module")
def compose():
    """(config, the variables' values): docker-compose's reading of the file where it is installed, else this
    test's own (compared with docker-compose's in a test below)."""
    env = secrets_for_test()
    if shutil.which("docker-compose") or IN_CI:
        return by_docker_compose(env), env
    return by_this_test(env), env


def entrypoint() -> list[str]:
    line = next(line for line in DOCKERFILE.read_text().splitlines() if line.startswith("ENTRYPOINT "))
    return json.loads(line.removeprefix("ENTRYPOINT "))


def aurora_services(config: dict) -> dict[str, dict]:
    """The services that run the image built from the Dockerfile (its entry point: `aurora`)."""
    return {name: s for name, s in config["services"].items() if "build" in s}


def parses(argv: list[str]) -> None:
    """`aurora ARGV...` parses: a subcommand that exists, with options it takes."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"`aurora {' '.join(argv)}` does not parse")
    assert hasattr(args, "run"), f"`aurora {' '.join(argv)}` names no command"


def dependencies(service: dict) -> dict[str, str]:
    return {name: how["condition"] for name, how in (service.get("depends_on") or {}).items()}


def start_order(config: dict) -> list[str]:
    """The services in an order compose could start them: each after everything it depends on."""
    order, left = [], dict(config["services"])
    while left:
        ready = sorted(n for n, s in left.items() if set(dependencies(s)) <= set(order))
        assert ready, f"a dependency cycle among {sorted(left)}"
        order += ready
        for name in ready:
            del left[name]
    return order


# -- the file itself -----------------------------------------------------------------------------------------

def test_docker_compose_validates_the_file_and_asks_for_the_passwords():
    tool = needs("docker-compose")
    ok = subprocess.run([tool, "-f", str(COMPOSE), "config", "-q"], env={**os.environ, **secrets_for_test()},
                        capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    bare = {k: v for k, v in os.environ.items() if k not in secrets_for_test()}
    missing = subprocess.run([tool, "-f", str(COMPOSE), "config", "-q"], env=bare, capture_output=True, text=True,
                             cwd=ROOT)
    assert missing.returncode != 0 and "in .env" in missing.stderr  # no password, no studio


def test_this_tests_reading_of_the_file_is_docker_composes():
    env = secrets_for_test()
    theirs, ours = by_docker_compose(env), by_this_test(env)
    assert set(theirs["services"]) == set(ours["services"])
    for name, service in theirs["services"].items():
        for key in ("command", "environment", "depends_on"):
            assert service.get(key) == ours["services"][name].get(key), (name, key)
        assert service["healthcheck"]["test"] == ours["services"][name]["healthcheck"]["test"], name


def test_every_service_is_checked_and_started_after_what_it_needs_is_healthy(compose):
    config, _ = compose
    for name, service in config["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert set(dependencies(service).values()) <= {"service_healthy"}, name
    needs_of = {name: set(dependencies(s)) for name, s in config["services"].items()}
    # The recorder before the canvas (a canvas serves no one before a recorder says hello), Redis before both.
    assert needs_of["recorder"] == {"redis"} and needs_of["canvas"] == {"recorder"}
    assert {"canvas", "grants"} <= needs_of["gateway"]
    order = start_order(config)
    assert order.index("redis") < order.index("recorder") < order.index("canvas") < order.index("gateway")


def test_every_command_is_an_aurora_command_that_exists(compose):
    config, _ = compose
    assert entrypoint() == ["aurora"]
    cmd = next(line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD "))
    parses(json.loads(cmd.removeprefix("CMD ")))  # the image's default: the whole studio
    services = aurora_services(config)
    assert {"recorder", "grants", "canvas", "gateway"} <= set(services)
    for name, service in services.items():
        parses(service["command"])
        test = service["healthcheck"]["test"]
        assert test[:2] == ["CMD", "aurora"], f"{name}'s healthcheck is no aurora command: {test}"
        parses(test[2:])


def test_one_agent_service_per_default_agent_each_with_its_own_redis_user(compose):
    config, _ = compose
    services = aurora_services(config)
    agents = {s["command"][1]: s for s in services.values() if s["command"][0] == "agent"}
    assert set(agents) == {spec.name for spec in rosters.load(rosters.DEFAULT_ROSTER)}
    grants = services["grants"]
    for name, service in agents.items():
        memory_url = redis.connection.parse_url(service["environment"]["AURORA_MEMORY_URL"])
        assert memory_url["username"] == user_name(name) and memory_url["password"]
        assert {"canvas", "grants"} <= set(dependencies(service))
        assert "/data/models" in [v.split(":")[1] for v in service["volumes"]]  # Gemma assembled once, kept
        assert name in grants["command"] and name in grants["healthcheck"]["test"]
        assert grants["environment"][password_env(name)] == memory_url["password"]
    reader = redis.connection.parse_url(services["gateway"]["environment"]["REDIS_URL"])
    assert reader["username"] == "record-reader" and reader["password"] == grants["environment"]["AURORA_READER_PASSWORD"]
    for name, service in services.items():  # nobody else holds the admin password
        urls = [v for v in service["environment"].values() if v.startswith("redis://")]
        admin = [u for u in urls if not redis.connection.parse_url(u).get("username")]
        assert not admin or name in ("recorder", "grants"), name
    command = config["services"]["redis"]["command"]
    assert " ".join(command).count("--appendonly yes") == 1 and "--requirepass" in command


# -- every command, run here ---------------------------------------------------------------------------------

@dataclass
class Studio:
    """The compose file's services as processes on this machine."""

    config: dict
    tmp: Path
    ports: dict[str, int] = field(default_factory=dict)  # the file's port -> a free port here
    files: dict[str, str] = field(default_factory=dict)  # a mounted file's path in the container -> its copy
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    redis: EmbeddedRedis | None = None
    unchecked: set[str] = field(default_factory=set)  # healthchecks that cannot run here

    def rewrite(self, value: str) -> str:
        """Host names to loopback, ports to free ones, mounted files to their copies; nothing else."""
        hosts = set(self.config["services"]) | {"0.0.0.0", "*"}

        def url(m: re.Match) -> str:
            assert m.group("host") in hosts, f"{m.group(0)} names a host that is no service"
            return f"{m.group('head')}127.0.0.1:{self.ports[m.group('port')]}"

        if value in self.ports:
            return str(self.ports[value])
        return self.files.get(value) or URL.sub(url, value)

    def env(self, name: str) -> dict[str, str]:
        """What the service's container sees: the image's AURORA_DATA (its volume: a folder here), the service's
        environment; nothing of this test's own environment that Aurora reads."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("AURORA_") and k != "REDIS_URL"}
        given = self.config["services"][name].get("environment") or {}
        return {**base, "PYTHONPATH": str(ROOT), "AURORA_DATA": str(self.tmp / "data"),
                **{k: self.rewrite(str(v)) for k, v in given.items()}}

    def argv(self, words: list[str]) -> list[str]:
        aurora = Path(sys.executable).with_name("aurora")
        head = [str(aurora)] if aurora.exists() else [sys.executable, "-m", "services.cli"]
        return head + [self.rewrite(str(w)) for w in words]

    def start(self, name: str) -> subprocess.Popen:
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(self.argv(self.config["services"][name]["command"]), env=self.env(name), cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def healthcheck(self, name: str) -> subprocess.CompletedProcess:
        test = self.config["services"][name]["healthcheck"]["test"]
        argv = self.argv(test[2:]) if test[:2] == ["CMD", "aurora"] else \
            ["sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        env = self.env(name)
        env["PATH"] = f"{self.tmp / 'bin'}{os.pathsep}{env['PATH']}"
        return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=30)

    def wait_healthy(self, name: str, timeout: float = 60) -> None:
        if name in self.unchecked:
            return
        last = None

        def healthy() -> bool:
            nonlocal last
            proc = self.procs.get(name)
            assert proc is None or proc.poll() is None, f"{name} exited with {proc.returncode}:\n{self.log(name)}"
            last = self.healthcheck(name)
            return last.returncode == 0

        try:
            wait_until(healthy, timeout=timeout, what=f"{name} healthy")
        except TimeoutError:
            pytest.fail(f"{name} never healthy: {last.stdout}{last.stderr}\n{self.log(name)}")

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self, name: str, grace: float = 30) -> int:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)  # what `docker compose stop` sends
        try:
            return proc.wait(grace)
        except subprocess.TimeoutExpired:
            stop(proc)
            pytest.fail(f"{name} did not stop within {grace}s of SIGTERM:\n{self.log(name)}")


def mounted_files(config: dict) -> dict[str, str]:
    """Bind-mounted files: container path -> host path."""
    found = {}
    for service in aurora_services(config).values():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/")):
                found[target] = str((ROOT / source).resolve())
    return found


@pytest.fixture(scope="module")
def studio(compose, tmp_path_factory):
    """Redis (EmbeddedRedis for the image, with the file's password), then every Aurora service but the agents,
    each started once what it depends on passes its healthcheck."""
    config, _ = compose
    s = Studio(config, tmp_path_factory.mktemp("compose"))
    texts = [json.dumps(aurora_services(config))] + [Path(p).read_text() for p in mounted_files(config).values()]
    container_ports = [str(p).split(":")[-1].split("/")[0] for sv in config["services"].values()
                       for p in sv.get("ports", [])]
    for port in sorted({m.group("port") for t in texts for m in URL.finditer(t)} | set(container_ports) | {"6379"}):
        s.ports[port] = free_port()
    for target, source in mounted_files(config).items():
        copy = s.tmp / "mounted" / target.lstrip("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(URL.sub(lambda m: s.rewrite(m.group(0)), Path(source).read_text()))
        s.files[target] = str(copy)
    command = config["services"]["redis"]["command"]
    password = command[command.index("--requirepass") + 1]
    (s.tmp / "redis").mkdir()
    (s.tmp / "redis" / "admin.pass").write_text(password)  # EmbeddedRedis keeps its admin password there
    s.redis = EmbeddedRedis(s.tmp / "redis", s.ports["6379"]).start()
    # The valkey image's valkey-cli, connecting to its default port: here valkey-cli or Debian's redis-cli, on
    # the free port. Without either (and not under CI), EmbeddedRedis has answered a PING as it started.
    cli = shutil.which("valkey-cli") or shutil.which("redis-cli")
    (s.tmp / "bin").mkdir()
    if cli:
        (s.tmp / "bin" / "valkey-cli").write_text(f'#!/bin/sh\nexec {cli} -p {s.ports["6379"]} "$@"\n')
        (s.tmp / "bin" / "valkey-cli").chmod(0o755)
    elif IN_CI:
        pytest.fail("redis-cli is missing under CI: `make test` installs it (Makefile, compose-tools)")
    else:
        s.unchecked.add("redis")
    try:
        s.wait_healthy("redis", timeout=10)
        for name in start_order(config):
            if name == "redis" or config["services"][name]["command"][0] == "agent":
                continue
            for needed in dependencies(config["services"][name]):
                s.wait_healthy(needed)
            s.start(name)
            s.wait_healthy(name)
        yield s
    finally:
        for name in reversed(list(s.procs)):
            stop(s.procs[name])
        s.redis.stop()


def test_every_service_runs_from_its_compose_command_and_a_scripted_agent_paints(studio):
    """The order held: each service came up healthy on what the file gives it. Now a scripted, non-LLM agent
    (with an agent service's environment: the addresses from the config file) paints, and the gateway serves its
    work from the record, read as the read-only user that `grants` made."""
    env = {k: v for k, v in studio.env("agent-smol").items() if k != "AURORA_MEMORY_URL"}
    painter = subprocess.run(studio.argv(["scripted-agent", "probe", "--decisions", "20", "--done-every", "10"]),
                             env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert painter.returncode == 0, painter.stdout + painter.stderr
    web = studio.ports["8080"]

    def recorded() -> dict:
        with urlopen(f"http://127.0.0.1:{web}/api/agents", timeout=5) as reply:
            agents = json.load(reply)
        return agents if agents["source"] == "record" else {}

    wait_until(lambda: any(a["name"] == "probe" and a["ops_applied"] > 0 and a["works_finished"] >= 1
                           for a in recorded().get("agents", [])), timeout=20, what="the probe's work recorded")
    with urlopen(f"http://127.0.0.1:{web}/api/works", timeout=5) as reply:
        assert any(w["agent"] == "probe" for w in json.load(reply)["works"])
    for name in ("recorder", "grants", "canvas", "gateway"):
        assert studio.healthcheck(name).returncode == 0, name


def test_the_agent_services_decide_with_their_own_memory_credentials(studio):
    """Each LLM agent service's own command and environment, with the bundled models: it loads its model
    (Gemma assembled into the data volume), logs in to its memory bank as its own user, passes its
    healthcheck (the canvas counts it live) and makes a decision; SIGTERM stops it cleanly."""
    agents = [n for n, s in aurora_services(studio.config).items() if s["command"][0] == "agent"]
    for name in agents:
        studio.start(name)
    admin = redis.Redis.from_url(studio.redis.url)
    try:
        for name in agents:
            studio.wait_healthy(name, timeout=240)
        for name in agents:  # written by the agent, as its own user, after each decision
            agent = studio.config["services"][name]["command"][1]
            wait_until(lambda: int(admin.hget(f"agent:{agent}:usage", "decisions") or 0) >= 1, timeout=240,
                       what=f"{agent}'s first decision in its memory bank")
    finally:
        admin.close()
        codes = {name: studio.stop(name) for name in agents if name in studio.procs}
    assert codes == dict.fromkeys(agents, 0), {n: studio.log(n) for n in agents}
    assert (studio.tmp / "data" / "models").is_dir()
