"""Memory of agent processes on one GGUF: PSS summed over N processes, each with the model loaded and used.

Each process (`python -m services.bench.agent_mem MODEL N_CTX THREADS`) builds a Generator as an agent does,
runs one short generation under the op grammar (so the KV cache, the compute buffers and the grammar are in
place), says "ready" and waits for its stdin to close. PSS (proportional set size) charges each shared page
to the processes that map it in equal parts, so the weights, mapped from the GGUF file by every process
(use_mmap), count once in a sum however many agents share them; RSS would count them once per process.

A process outside the bench that maps the same GGUF (a running studio, another test) takes its own share of
those pages and would lower every PSS here (and raise mem_ratio). So the figure used is the PSS within the
bench's processes: each one's PSS with its share of the GGUF mapping replaced by the GGUF's resident size
counted once for the group. With no outside process on the file it equals the plain sum, which is shown too.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.base.process import die_with_parent
from services.bench.children import ROLLUP_FIELDS, smaps_rollup

READY = "ready"
_MAPPING = re.compile(r"[0-9a-f]+-[0-9a-f]+ ")


@dataclass
class Memory:
    """Sums over the processes of one measurement, in kB (a field the kernel does not give stays 0)."""

    processes: int
    kb: dict[str, int] = field(default_factory=dict)
    gguf_pss_kb: int = 0      # the processes' PSS of the GGUF mapping, summed
    gguf_rss_kb: int = 0      # the GGUF's resident size in the process that has most of it
    others_mapping: int = 0   # processes outside the bench that had the GGUF mapped

    def mb(self, name: str) -> float:
        return self.kb.get(name, 0) / 1024

    @property
    def group_pss_mb(self) -> float:
        """PSS within the bench's processes: the GGUF's pages counted once for the group (see module doc)."""
        return (self.kb.get("Pss", 0) - self.gguf_pss_kb + self.gguf_rss_kb) / 1024


def file_mapping(pid: int, path: Path) -> dict[str, int]:
    """Rss and Pss (kB) of the mappings of `path` in process `pid` (/proc/PID/smaps)."""
    target = str(Path(path).resolve())
    out = {"Rss": 0, "Pss": 0}
    inside = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if _MAPPING.match(line):  # a mapping's header: "start-end perms offset dev inode [path]"
                inside = line.rstrip("\n").endswith(target)
            elif inside:
                name, _, rest = line.partition(":")
                if name in out:
                    out[name] += int(rest.split()[0])
    return out


def mapping_pids(path: Path, exclude: set[int]) -> list[int]:
    """Processes (those we may read) that map `path`, other than `exclude`."""
    target = str(Path(path).resolve())
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        try:
            with open(f"/proc/{entry}/maps") as f:
                if any(line.rstrip("\n").endswith(target) for line in f):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


class AgentProcesses:
    """N agent-like processes on one model; stopped on close (and by the kernel if the bench dies)."""

    def __init__(self, model_path: Path, n: int, *, n_ctx: int, threads: int):
        self.model_path = Path(model_path)
        self.procs: list[subprocess.Popen] = []
        for _ in range(n):
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "services.bench.agent_mem", str(model_path), str(n_ctx), str(threads)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent,
                start_new_session=True))  # a Ctrl-C reaches the bench only, which stops these in order

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        waiting = {p.stdout.fileno(): p for p in self.procs}
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{len(waiting)} agent process(es) not ready within {timeout:.0f} s")
            readable, _, _ = select.select(list(waiting), [], [], min(left, 1.0))
            for fd in readable:
                proc = waiting[fd]
                line = proc.stdout.readline().strip()
                if line != READY:
                    proc.wait(timeout=5)
                    raise RuntimeError(f"an agent process failed to load the model (exit {proc.returncode})")
                del waiting[fd]

    def measure(self) -> Memory:
        pids = {p.pid for p in self.procs}
        total = dict.fromkeys(ROLLUP_FIELDS, 0)
        gguf_pss = gguf_rss = 0
        for pid in pids:
            for name, kb in smaps_rollup(pid).items():
                total[name] += kb
            mapping = file_mapping(pid, self.model_path)
            gguf_pss += mapping["Pss"]
            gguf_rss = max(gguf_rss, mapping["Rss"])
        others = mapping_pids(self.model_path, pids | {os.getpid()})
        return Memory(len(pids), total, gguf_pss, gguf_rss, len(others))

    def close(self) -> None:
        for p in self.procs:
            try:
                p.stdin.close()  # the child's cue to exit
            except OSError:
                pass
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout is not None:
                p.stdout.close()
        self.procs = []


def measure(model_path: Path, n: int, *, n_ctx: int, threads: int) -> Memory:
    """Start n processes, wait until each has loaded and generated, sum their PSS, stop them."""
    procs = AgentProcesses(model_path, n, n_ctx=n_ctx, threads=threads)
    try:
        procs.wait_ready()
        return procs.measure()
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
        try:
            procs.close()
        finally:
            signal.signal(signal.SIGINT, previous)


def child(model_path: str, n_ctx: int, threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench stops us (stdin closed, or SIGTERM)
    from proto.ops.grammar import gbnf
    from services.agent.llm import Generator

    gen = Generator(model_path, n_ctx=n_ctx, n_threads=threads)
    gen.generate(gen.format("You paint on a canvas.", "Your canvas is blank."), grammar=gbnf(8), max_tokens=4)
    print(READY, flush=True)
    sys.stdin.read()  # until the bench closes our stdin (or dies: die_with_parent)
    gen.close()


if __name__ == "__main__":
    child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
