"""docker-compose.yml and the Dockerfile: valid for Docker Compose, wired as the studio needs, and every command
they run works.

No Docker engine runs here. Debian's docker-compose validates the file and substitutes its variables (`config`
needs no engine); then every Aurora service's command, environment and healthcheck, as compose gives them, run
here as real processes in the order compose would start them, with only the service names turned to loopback
and the ports to free ones (the mounted files are copies rewritten the same way; the canvas still binds 0.0.0.0,
off loopback, as in its container). The containers' paths lie under one folder here, each volume at its mount
point, so the `keys` service's command makes the keys that the canvas and every client then use, from the paths
the file gives them. EmbeddedRedis stands in for the valkey image, and its healthcheck runs with redis-cli. A
scripted, non-LLM agent paints through that studio over CurveZMQ; a client without a key, or with a key the
canvas does not know, is refused; the LLM agent services run their own commands with the bundled models until
each has made a decision.
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
from services.base.curve import KEY_ENV, SERVER_KEY_ENV
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


def one_shot(service: dict) -> bool:
    """A service that runs once and exits (others wait for `service_completed_successfully`), unchecked."""
    return service.get("restart") == "no"


def healthcheck_test(service: dict) -> list[str] | None:
    """Its healthcheck's test; None where it has none or disables the image's (`disable: true`, which
    docker-compose's `config` writes as test [NONE])."""
    check = service.get("healthcheck") or {}
    return None if check.get("disable") or check.get("test") == ["NONE"] else check.get("test")


def named_volumes(service: dict) -> dict[str, tuple[str, bool]]:
    """The named volumes a service mounts: name -> (its mount point, read-only)."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        if not source.startswith((".", "/")):
            found[source] = (target, mode == ["ro"])
    return found


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
        for key in ("command", "environment", "depends_on", "restart"):
            assert service.get(key) == ours["services"][name].get(key), (name, key)
        assert healthcheck_test(service) == healthcheck_test(ours["services"][name]), name
        assert named_volumes(service) == named_volumes(ours["services"][name]), name


def test_every_service_is_checked_and_started_after_what_it_needs_is_healthy(compose):
    config, _ = compose
    services = config["services"]
    for name, service in services.items():
        if one_shot(service):  # runs and exits: nothing to check, the image's healthcheck turned off
            assert healthcheck_test(service) is None and "healthcheck" in service, name
        else:
            assert healthcheck_test(service), f"{name} has no healthcheck"
        for needed, condition in dependencies(service).items():
            assert condition == ("service_completed_successfully" if one_shot(services[needed]) else
                                 "service_healthy"), (name, needed)
    needs_of = {name: set(dependencies(s)) for name, s in services.items()}
    # The recorder before the canvas (a canvas serves no one before a recorder says hello), Redis before both;
    # the keys before the canvas and before every client of it.
    assert needs_of["recorder"] == {"keys", "redis"} and needs_of["canvas"] == {"keys", "recorder"}
    assert {"canvas", "grants", "keys"} <= needs_of["gateway"]
    assert one_shot(services["keys"]) and needs_of["keys"] == set()
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
        test = healthcheck_test(service)
        if test is None and one_shot(service):
            continue
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


def clients_of_the_canvas(services: dict) -> dict[str, dict]:
    """The Aurora services that connect to the canvas: by their command, or by their healthcheck's."""
    talk = {"agent", "scripted-agent", "recorder", "gateway", "peek", "watch", "status"}
    return {name: s for name, s in services.items() if s["command"][0] in talk
            or (healthcheck_test(s) or [])[2:4] in (["health", "canvas"], ["health", "agent"])}


def test_the_canvas_takes_only_curvezmq_and_its_secret_is_in_no_other_container(compose):
    """The keys service makes every key; the canvas's keypair lies in a volume that only it and the canvas mount;
    each client mounts its own folder alone, read-only, and names the files in it. A volume has one mount point
    in every service (the processes below find each volume at its mount point)."""
    config, _ = compose
    services = aurora_services(config)
    mounts = {name: named_volumes(s) for name, s in services.items()}
    points: dict[str, set[str]] = {}
    for volumes in mounts.values():
        for volume, (target, _) in volumes.items():
            points.setdefault(volume, set()).add(target)
    assert all(len(targets) == 1 for targets in points.values()), points
    studio_keys = next(v for v, targets in points.items() if targets == {"/data/keys"})  # DATA/keys (AURORA_DATA)
    assert {n for n, volumes in mounts.items() if studio_keys in volumes} == {"keys", "canvas"}
    assert mounts["canvas"][studio_keys] == ("/data/keys", True)  # read-only: the canvas only reads its keys
    canvas = services["canvas"]["command"]
    assert "--curve" in canvas and any(w.startswith("tcp://0.0.0.0:") for w in canvas)  # off loopback, CURVE
    setup = services["keys"]["command"]
    assert setup[:3] == ["keys", "setup", "--dir"]
    given, names = setup[3], setup[4:]
    clients = clients_of_the_canvas(services)
    assert {"recorder", "canvas", "gateway"} <= set(clients)
    for name, service in clients.items():
        env = service["environment"]
        server_key, key = Path(env[SERVER_KEY_ENV]), Path(env[KEY_ENV])
        folder = key.parent
        client = key.name.removesuffix(".key_secret")
        assert server_key == folder / "canvas.key" and folder == Path(given) / client and client in names, name
        own = [v for v, (target, _) in mounts[name].items() if target == str(folder)]
        assert len(own) == 1 and mounts[name][own[0]][1], f"{name} mounts {folder} read-only, from a volume"
        others = {n for n, volumes in mounts.items() if own[0] in volumes} - {"keys"}
        assert others == {name}, f"{own[0]} is {name}'s alone, not also {others - {name}}'s"
    assert sorted(names) == sorted(Path(s["environment"][KEY_ENV]).parent.name for s in clients.values())


# -- every command, run here ---------------------------------------------------------------------------------

@dataclass
class Studio:
    """The compose file's services as processes on this machine."""

    config: dict
    tmp: Path
    ports: dict[str, int] = field(default_factory=dict)  # the file's port -> a free port here
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    completed: set[str] = field(default_factory=set)  # one-shot services that have run and exited 0
    redis: EmbeddedRedis | None = None
    unchecked: set[str] = field(default_factory=set)  # healthchecks that cannot run here

    @property
    def root(self) -> Path:
        """The containers' paths, here: each volume a folder at its mount point, each mounted file a copy."""
        return self.tmp / "root"

    def rewrite(self, value: str) -> str:
        """Service names to loopback (a bind to every interface stays one), ports to free ones, the containers'
        paths to theirs under `root`; nothing else."""
        hosts = set(self.config["services"])

        def url(m: re.Match) -> str:
            host = m.group("host")
            assert host in hosts | {"0.0.0.0", "*"}, f"{m.group(0)} names a host that is no service"
            return f"{m.group('head')}{'127.0.0.1' if host in hosts else host}:{self.ports[m.group('port')]}"

        if value in self.ports:
            return str(self.ports[value])
        if value.startswith("/") and value.split("/")[1] in mount_tops(self.config):
            return str(self.root) + value
        return URL.sub(url, value)

    def env(self, name: str) -> dict[str, str]:
        """What the service's container sees: the image's AURORA_DATA (its volume: a folder here), the service's
        environment; nothing of this test's own environment that Aurora reads."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("AURORA_") and k != "REDIS_URL"}
        given = self.config["services"][name].get("environment") or {}
        return {**base, "PYTHONPATH": str(ROOT), "AURORA_DATA": self.rewrite("/data"),
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

    def run_once(self, name: str) -> str:
        """A one-shot service's command, to its end: it must exit 0, as `service_completed_successfully` asks."""
        done = subprocess.run(self.argv(self.config["services"][name]["command"]), env=self.env(name), cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{name} exited with {done.returncode}:\n{done.stdout}{done.stderr}"
        self.completed.add(name)
        return done.stdout

    def wait_for(self, name: str, condition: str) -> None:
        if condition == "service_completed_successfully":
            assert name in self.completed, f"{name} has not run to completion"
        else:
            self.wait_healthy(name)

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


def mount_points(config: dict) -> set[str]:
    """Where the Aurora services' named volumes are mounted (each at one place in every service)."""
    return {target for s in aurora_services(config).values() for target, _ in named_volumes(s).values()}


def mount_tops(config: dict) -> set[str]:
    """The first folder of every mount point: a path under one of them is a container's path, mapped here."""
    return {t.split("/")[1] for t in mount_points(config) | set(mounted_files(config))}


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
        copy = Path(s.rewrite(target))
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(URL.sub(lambda m: s.rewrite(m.group(0)), Path(source).read_text()))
    for target in sorted(mount_points(config)):  # a volume is a folder here, at its mount point
        Path(s.rewrite(target)).mkdir(parents=True, exist_ok=True)
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
            for needed, condition in dependencies(config["services"][name]).items():
                s.wait_for(needed, condition)
            if one_shot(config["services"][name]):
                s.run_once(name)
                continue
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
    work from the record, read as the read-only user that `grants` made. It takes the agent's name: its key
    speaks for that agent only."""
    env = {k: v for k, v in studio.env("agent-smol").items() if k != "AURORA_MEMORY_URL"}
    name = studio.config["services"]["agent-smol"]["command"][1]
    painter = subprocess.run(studio.argv(["scripted-agent", name, "--decisions", "20", "--done-every", "10"]),
                             env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert painter.returncode == 0, painter.stdout + painter.stderr
    web = studio.ports["8080"]

    def recorded() -> dict:
        with urlopen(f"http://127.0.0.1:{web}/api/agents", timeout=5) as reply:
            agents = json.load(reply)
        return agents if agents["source"] == "record" else {}

    wait_until(lambda: any(a["name"] == name and a["ops_applied"] > 0 and a["works_finished"] >= 1
                           for a in recorded().get("agents", [])), timeout=20, what=f"{name}'s work recorded")
    with urlopen(f"http://127.0.0.1:{web}/api/works", timeout=5) as reply:
        assert any(w["agent"] == name for w in json.load(reply)["works"])
    for name in ("recorder", "grants", "canvas", "gateway"):
        assert studio.healthcheck(name).returncode == 0, name


def test_the_keys_service_runs_again_and_keeps_every_key(studio):
    """It runs at every `up`: the second time it makes nothing and changes nothing, and the canvas goes on serving
    its clients. Each client's folder holds its keypair and the canvas's public key, nothing else."""
    setup = studio.config["services"]["keys"]["command"]
    given, names = Path(studio.rewrite(setup[3])), setup[4:]
    studio_keys = Path(studio.rewrite("/data/keys"))
    for name in names:
        assert {p.name for p in (given / name).iterdir()} == {"canvas.key", f"{name}.key", f"{name}.key_secret"}
        assert (given / name / "canvas.key").read_bytes() == (studio_keys / "canvas.key").read_bytes()
        assert (studio_keys / "authorized" / f"{name}.key").is_file()

    def keys() -> dict[str, bytes]:
        return {str(p): p.read_bytes() for folder in (studio_keys, given) for p in sorted(folder.rglob("*"))
                if p.is_file()}

    before = keys()
    out = studio.run_once("keys")
    assert keys() == before and out.count("kept") == 1 + len(names) and "made" not in out, out
    assert studio.healthcheck("canvas").returncode == 0


def test_a_client_without_a_key_or_with_one_the_canvas_does_not_know_is_refused(studio, tmp_path):
    """The canvas binds 0.0.0.0 here as in its container: off loopback it takes only CurveZMQ, and only the keys
    that `keys` authorized. Its own healthcheck, without its keys or with a stranger's, gets no snapshot."""
    env = {k: v for k, v in studio.env("canvas").items() if k not in (SERVER_KEY_ENV, KEY_ENV)}
    plain = subprocess.run(studio.argv(["health", "canvas", "--timeout", "2"]), env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=30)
    assert plain.returncode == 1 and "no snapshot" in plain.stdout, plain.stdout + plain.stderr
    stranger = tmp_path / "stranger"
    made = subprocess.run(studio.argv(["keys", "create", "stranger", "--dir", str(stranger), "--no-authorize"]),
                          env={**env, "AURORA_DATA": str(tmp_path / "data")}, cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert made.returncode == 0, made.stdout + made.stderr
    keyed = {**env, SERVER_KEY_ENV: studio.env("canvas")[SERVER_KEY_ENV],
             KEY_ENV: str(stranger / "stranger.key_secret")}
    refused = subprocess.run(studio.argv(["health", "canvas", "--timeout", "10"]), env=keyed, cwd=ROOT,
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == 1 and "refused this client's key" in refused.stdout, refused.stdout + refused.stderr
    log = (studio.tmp / "canvas.log").read_text(errors="replace")
    assert "a peer failed the CurveZMQ handshake" in log and "refused a client whose key is not authorized" in log


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
    assert Path(studio.rewrite("/data/models")).is_dir()
