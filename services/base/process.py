"""Child processes that stop in order and never outlive their parent.

Each child runs in its own session, so a Ctrl-C at the terminal reaches only the parent, which then stops
its children in the right order (agents before the Redis they write to). And the kernel sends a child
SIGTERM if its parent dies, so a parent killed with SIGKILL leaves nothing behind (Linux; a no-op elsewhere).
"""

from __future__ import annotations

import ctypes
import signal
import subprocess

PR_SET_PDEATHSIG = 1
try:  # resolved here, not in the forked child, where loading a library is unsafe
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None


def die_with_parent() -> None:
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(argv: list[str], **popen) -> subprocess.Popen:
    return subprocess.Popen(argv, preexec_fn=die_with_parent, start_new_session=True, **popen)


def stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM, and SIGKILL if the child has not exited within `grace_s`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
