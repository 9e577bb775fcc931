"""`aurora canvas`: the authoritative canvas service. Wires the four sockets to the Studio's handlers."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import zmq

from proto.canvas import DEFAULT_HEIGHT, DEFAULT_WIDTH
from proto.messages import AGENT_FRAME_LIMIT, MODES, RECORD_FRAME_LIMIT
from proto.heartbeat import INTERVAL, LIVENESS, REMOVE_AFTER
from services.base import addresses, curve
from services.agent.roster import DEFAULT_ROSTER, RosterError, studio_mode
from services.base.keys import Keys, hello_proof
from services.base.log import event, setup
from services.base.loop import ServiceLoop
from services.canvas.limits import DecisionRate, salon_board
from services.canvas.recording import EXIT_RECORD_BEHIND, RecordBehind
from services.canvas.sessions import Sessions
from services.canvas.studio import Studio
from services.canvas.zap import Security

HARD_FRAME_LIMIT = 1 << 20  # ZMQ_MAXMSGSIZE: past this ZeroMQ drops the peer before buffering the frame
PUB_HWM = 100_000
_MORE, _NOBLOCK, _MORE_NOBLOCK = int(zmq.SNDMORE), int(zmq.NOBLOCK), int(zmq.SNDMORE | zmq.NOBLOCK)  # events buffered per subscriber before PUB drops (never blocks) for a slow one


class ZmqOutbox:
    """The Studio's outbox over real sockets. Sends never block: a peer that does not read loses its
    replies (counted), and PUB drops for a slow subscriber rather than stall the studio."""

    def __init__(self, loop: ServiceLoop, agents: zmq.Socket, snapshots: zmq.Socket, pub: zmq.Socket,
                 record: zmq.Socket):
        self.loop, self.agents, self.snapshots, self.pub, self.recorder = loop, agents, snapshots, pub, record

    def _route(self, sock: zmq.Socket, route: bytes, frame: bytes) -> bool:
        # Two plain sends cost a third of one send_multipart in pyzmq. With ROUTER_MANDATORY an unroutable
        # peer fails on the first frame, before anything is queued; a full queue (Again) also fails there,
        # since ZeroMQ checks the high-water mark when a message starts.
        try:
            sock.send(route, _MORE_NOBLOCK)
            sock.send(frame, _NOBLOCK)
            return True
        except zmq.ZMQError:  # Again (peer not reading) or EHOSTUNREACH (peer gone)
            self.loop.counters["replies_dropped"] += 1
            return False

    def send(self, route: bytes, frame: bytes) -> None:
        self._route(self.agents, route, frame)

    def answer(self, route: bytes, frame: bytes) -> None:
        self._route(self.snapshots, route, frame)

    def publish(self, frames: list[bytes]) -> None:
        self.pub.send(frames[0], _MORE)
        self.pub.send(frames[1])

    def record(self, route: bytes, frame: bytes) -> bool:
        return self._route(self.recorder, route, frame)


def add_parser(sub) -> None:
    p = sub.add_parser("canvas", help="run the authoritative canvas service")
    addresses.add_arguments(p)
    curve.add_server_arguments(p)
    p.add_argument("--width", type=int, default=DEFAULT_WIDTH, help=f"canvas width (default {DEFAULT_WIDTH})")
    p.add_argument("--height", type=int, default=DEFAULT_HEIGHT, help=f"canvas height (default {DEFAULT_HEIGHT})")
    p.add_argument("--frame-limit", type=int, default=AGENT_FRAME_LIMIT,
                   help=f"largest frame decoded from an agent or viewer, bytes (default {AGENT_FRAME_LIMIT}: the "
                        "largest valid message)")
    p.add_argument("--roster", default=None, metavar="FILE",
                   help="enforce the decisions_per_minute of each agent this roster names (`aurora up` passes its "
                        "own; `default`: the bundled one, which the agents of an image use); agents it does not name "
                        "are not rate-limited")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="isolated: each agent sees only its own canvas; salon: agents may post finished works and see "
                        "and answer those of others (default: the roster's [studio] mode, else isolated)")
    p.add_argument("--ready-file", default=None, metavar="PATH",
                   help="once bound, write the three addresses here as JSON (bind to port * to let the OS choose)")
    p.add_argument("--heartbeat-interval", type=float, default=INTERVAL, help="seconds (PROTOCOL.md section 9)")
    p.add_argument("--liveness", type=int, default=LIVENESS, help="silent intervals before an agent is missing")
    p.add_argument("--remove-after", type=int, default=REMOVE_AFTER, help="silent intervals before it is removed")
    p.add_argument("--volatile", action="store_true",
                   help="do not wait for a recorder: replies go out at once and nothing is kept (for testing or "
                        "benchmarking the canvas alone; the studio, `aurora up`, always records)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    log = setup("aurora.canvas")
    addrs = addresses.from_args(args)
    keys = Keys.studio()
    try:  # before anything binds: a socket that must take CurveZMQ never starts plaintext
        security = Security({"agents": addrs.agents, "events": addrs.events, "snapshots": addrs.snapshots,
                             "record": addrs.record}, force=args.curve, keys=keys)
        roster = DEFAULT_ROSTER if args.roster == "default" else args.roster
        rate = DecisionRate.from_roster(roster) if roster else DecisionRate()
        mode = args.mode or (studio_mode(roster) if roster else "isolated")
        board = salon_board(roster)
        # A plaintext hello proves its name with the studio's hello secret (PROTOCOL.md section 13).
        secret = None if "agents" in security.curve else keys.hello_secret()
    except (curve.CurveError, RosterError, OSError) as exc:
        print(f"aurora canvas: {exc}", file=sys.stderr, flush=True)
        return 2
    loop = ServiceLoop("canvas")
    loop.install_signal_handlers()
    agents = loop.socket(zmq.ROUTER, ROUTER_MANDATORY=1, MAXMSGSIZE=HARD_FRAME_LIMIT)
    snapshots = loop.socket(zmq.ROUTER, ROUTER_MANDATORY=1, MAXMSGSIZE=HARD_FRAME_LIMIT)
    pub = loop.socket(zmq.PUB, SNDHWM=PUB_HWM)
    record = loop.socket(zmq.ROUTER, ROUTER_MANDATORY=1, MAXMSGSIZE=RECORD_FRAME_LIMIT, SNDHWM=0)
    outbox = ZmqOutbox(loop, agents, snapshots, pub, record)
    sessions = Sessions(args.heartbeat_interval, args.liveness, args.remove_after)
    studio = Studio(outbox, width=args.width, height=args.height, frame_limit=args.frame_limit, sessions=sessions,
                    durable=not args.volatile, rate=rate,
                    proof=None if secret is None else lambda name: hello_proof(secret, name), mode=mode, board=board,
                    counters=loop.counters)
    # On CurveZMQ, each message comes with the name its connection's key is authorized under (ZAP's User-Id).
    loop.on_frames(agents, studio.on_agent_frames, with_user="agents" in security.curve)
    loop.on_frames(snapshots, studio.on_snapshot_frames)
    loop.on_frames(record, studio.on_record_frames)
    loop.after_wake.append(studio.flush)
    security.start(loop)
    for name, sock in (("agents", agents), ("events", pub), ("snapshots", snapshots), ("record", record)):
        security.secure(name, sock, loop)
    pub.bind(addrs.events)
    snapshots.bind(addrs.snapshots)
    record.bind(addrs.record)
    agents.bind(addrs.agents)
    loop.every(args.heartbeat_interval / 4, studio.tick)
    if args.ready_file:  # written whole, then renamed: a reader never sees half a file
        bound = {name: sock.getsockopt_string(zmq.LAST_ENDPOINT)
                 for name, sock in (("agents", agents), ("events", pub), ("snapshots", snapshots),
                                    ("record", record))}
        tmp = Path(args.ready_file + ".tmp")
        tmp.write_text(json.dumps(bound))
        tmp.replace(args.ready_file)
    event(log, logging.INFO, "canvas ready", agents=addrs.agents, events=addrs.events,
          snapshots=addrs.snapshots, record=addrs.record, width=args.width, height=args.height,
          journal="volatile" if args.volatile else "durable (serving agents once a recorder has said hello)",
          curve=security.curve, rate_limited=sorted(rate.limits), mode=mode)
    try:
        loop.run()
    except RecordBehind as exc:  # said loudly where it was found; a supervisor starts the canvas again
        print(f"aurora canvas: {exc}; start the canvas again (`aurora up` does) to resume from the record",
              file=sys.stderr, flush=True)
        loop.close()
        return EXIT_RECORD_BEHIND
    finally:
        security.close()
    return 0
