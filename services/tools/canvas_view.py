"""How the viewer tools (peek, watch, status, health) reach the canvas: their CurveZMQ keys, and one snapshot."""

from __future__ import annotations

import argparse

from services.base import addresses, curve
from services.base.curve import ClientCurve
from services.canvas.replica import Replica
from services.supervisor import state as studio_state


def viewer_keys(args: argparse.Namespace, events: str, snapshots: str, prog: str) -> ClientCurve | None:
    """The keys the options or the environment give; given none on the studio's host, the studio's own while
    `aurora up` runs the canvas at `events` on CurveZMQ (services/supervisor/state.py local_keys)."""
    return curve.client_from_args(args, events, snapshots, prog=prog, default=studio_state.local_keys(events))


def snapshot(args: argparse.Namespace, prog: str, sender: str = "viewer") -> Replica:
    """A replica synced once from the canvas the options name, then closed; TimeoutError (saying why where it
    knows: a refused key, a failed handshake) when the canvas does not answer within `args.timeout`."""
    addrs = addresses.from_args(args)
    replica = Replica(addrs.events, addrs.snapshots, sender=sender,
                      curve=viewer_keys(args, addrs.events, addrs.snapshots, prog))
    try:
        replica.sync(timeout=args.timeout)
    finally:
        replica.close()
    return replica
