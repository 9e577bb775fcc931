"""A canvas that takes only CurveZMQ (`--curve`, on loopback ports the OS chose), with its keys in a data folder
of the test's own, and clients' keys authorized there or not."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.base.addresses import CanvasAddresses
from services.base.curve import ClientCurve
from services.base.keys import Keys
from services.canvas.client import CanvasClient
from tests.support.processes import addr_args, aurora, stop, wait_until


@dataclass
class CurveStudio:
    data: Path
    keys: Keys
    addrs: CanvasAddresses
    proc: subprocess.Popen
    log: Path

    def client(self, name: str) -> ClientCurve:
        """A client keypair authorized on the canvas's host."""
        _, secret = self.keys.create_client(name)
        return ClientCurve.load(self.keys.server_public, secret)

    def stranger(self, name: str) -> ClientCurve:
        """A client keypair the canvas has never heard of."""
        _, secret = self.keys.create_client(name, self.data / "elsewhere", authorize=False)
        return ClientCurve.load(self.keys.server_public, secret)

    def key_args(self, curve: ClientCurve) -> list[str]:
        return ["--curve-server-key", str(self.keys.server_public), "--curve-key", curve.key_file]

    def env(self) -> dict[str, str]:
        return {"AURORA_DATA": str(self.data)}

    def entries(self) -> list[dict]:
        """The canvas's structured log so far (JSON lines on its stderr)."""
        return json_lines(self.log)

    def logged(self, msg: str, **fields) -> list[dict]:
        """The canvas's log entries saying `msg`, with these `fields`."""
        return [e for e in self.entries() if e.get("msg") == msg and all(e.get(k) == v for k, v in fields.items())]

    def stopped_counters(self) -> dict:
        """Stop the canvas; the counters it logs as it stops."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        return next(e["counters"] for e in self.entries() if e.get("msg") == "stopped")


def json_lines(path: Path) -> list[dict]:
    """The JSON objects of a service's log (services/base/log.py), skipping anything else it printed."""
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


@contextmanager
def curve_canvas(data: Path, *extra: str, durable: bool = False, probe: bool = True, curve: bool = True):
    """A canvas with `--curve` on loopback; yields a CurveStudio once it is bound (and, unless `durable`, once it
    answers an authorized client's handshake). With `curve=False`, a canvas as `aurora up` runs one on a single
    host: plaintext but for the record socket, which takes only CurveZMQ everywhere."""
    keys = Keys(Path(data) / "keys")
    keys.server_key_made()
    ready, log = Path(data) / "ready.json", Path(data) / "canvas.log"
    anywhere = CanvasAddresses(*["tcp://127.0.0.1:*"] * 4)
    with log.open("w") as err:
        proc = aurora("canvas", *(["--curve"] if curve else []), *addr_args(anywhere), "--ready-file", str(ready),
                      *extra,
                      *([] if durable else ["--volatile"]), env_extra={"AURORA_DATA": str(data),
                                                                     "AURORA_LOG": "info"}, stderr=err)
    try:
        wait_until(lambda: ready.exists() or proc.poll() is not None, timeout=30, what="canvas bound")
        assert proc.poll() is None, f"the canvas exited with {proc.returncode}: {log.read_text()}"
        studio = CurveStudio(Path(data), keys, CanvasAddresses(**json.loads(ready.read_text())), proc, log)
        if probe and not durable:
            client = CanvasClient("probe", studio.addrs.agents, curve=studio.client("probe") if curve else None,
                                  proof=keys.hello_proof("probe"))
            client.connect_with_backoff(deadline=time.monotonic() + 15)
            client.close()
        yield studio
    finally:
        stop(proc)


def recorder_process(studio: CurveStudio, record_url: str) -> subprocess.Popen:
    """`aurora recorder` for this canvas, into `record_url`, with the studio's data folder (its recorder key)."""
    return aurora("recorder", *addr_args(studio.addrs), "--redis-url", record_url, env_extra=studio.env())


@contextmanager
def recorded_canvas(data: Path, record_url: str, *extra: str):
    """A durable canvas as `aurora up` runs one on a single host (plaintext agents socket, CurveZMQ record socket)
    and its recorder, sharing the data folder `data` (the hello proofs, the recorder's key); the recorder must
    have been stopped, not refused."""
    with curve_canvas(data, *extra, durable=True, curve=False) as running:
        recorder = recorder_process(running, record_url)
        try:
            yield running
        finally:
            stop(recorder)
            assert recorder.returncode == 0, "the recorder was stopped, not refused"
