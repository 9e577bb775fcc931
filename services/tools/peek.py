"""`aurora peek`: join the studio late (snapshot + events) and print every canvas once, or follow them."""

from __future__ import annotations

import argparse

from services.base import addresses, curve
from services.canvas.replica import Replica
from services.supervisor import state as studio_state


def add_parser(sub) -> None:
    p = sub.add_parser("peek", help="print every canvas in the studio (joins late, by snapshot)")
    addresses.add_arguments(p)
    curve.add_client_arguments(p)
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    addrs = addresses.from_args(args)
    keys = curve.client_from_args(args, addrs.events, addrs.snapshots, prog="peek",
                                  default=studio_state.local_keys(addrs.events))
    replica = Replica(addrs.events, addrs.snapshots, curve=keys)
    try:
        replica.sync(timeout=args.timeout)
    except TimeoutError as exc:
        print(f"aurora peek: {exc}")
        return 1
    finally:
        replica.close()
    print(f"studio at seq {replica.seq}: {len(replica.canvases)} canvas(es)")
    for name, canvas in sorted(replica.canvases.items()):
        s = canvas.state()
        print(f"\n== {name} ({replica.status.get(name)}) work {s['work']} title={s['title']!r} "
              f"feel={s['feel']!r} colour={s['color']} brush={s['brush']} pen={s['pen']}")
        print(canvas.view())
    return 0
