"""`aurora peek`: join the studio late (snapshot + events) and print every canvas once, or follow them."""

from __future__ import annotations

import argparse

from services.base import addresses, curve
from services.tools.canvas_view import snapshot


def add_parser(sub) -> None:
    p = sub.add_parser("peek", help="print every canvas in the studio (joins late, by snapshot)")
    addresses.add_arguments(p)
    curve.add_client_arguments(p)
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        replica = snapshot(args, "peek")
    except TimeoutError as exc:
        print(f"aurora peek: {exc}")
        return 1
    print(f"studio at seq {replica.seq}: {len(replica.canvases)} canvas(es)")
    for name, canvas in sorted(replica.canvases.items()):
        s = canvas.state()
        print(f"\n== {name} ({replica.status.get(name)}) work {s['work']} title={s['title']!r} "
              f"feel={s['feel']!r} colour={s['color']} brush={s['brush']} pen={s['pen']}")
        print(canvas.view())
    return 0
