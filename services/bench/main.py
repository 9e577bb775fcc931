"""`aurora bench`: benchmarks that print a ratio against a baseline measured in the same run."""

from __future__ import annotations

import importlib
import signal
import sys

TARGETS = {"canvas": "services.bench.canvas_bench", "agent": "services.bench.agent_bench",
           "recorder": "services.bench.recorder_bench", "gateway": "services.bench.gateway_bench", "studio": "services.bench.studio_bench"}


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark")
    p.add_argument("target", choices=tuple(TARGETS))
    p.add_argument("--quick", action="store_true",
                   help="a shorter run (canvas: under 60 s; agent: under 90 s; recorder: under 30 s; "
                        "gateway: 100 viewers instead of 1,000, under 30 s; studio: a 60 s window, under 3 min)")
    p.set_defaults(run=run)


def run(args) -> int:
    """Run one benchmark module's `run_bench(plan, label)`; Ctrl-C or SIGTERM stop it and its processes."""
    label = f"aurora bench {args.target}" + (" --quick" if args.quick else "")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a kill cleans up as Ctrl-C does
    try:
        bench = importlib.import_module(TARGETS[args.target])
        bench.run_bench(bench.QUICK if args.quick else bench.FULL, label)
    except KeyboardInterrupt:
        print(f"{label}: interrupted; every process it started is stopped", file=sys.stderr)
        return 130
    except ImportError as exc:
        print(f"{label}: {exc} (`make test` installs everything the benchmarks need)", file=sys.stderr)
        return 1
    except Exception as exc:
        if not isinstance(exc, getattr(sys.modules.get(TARGETS[args.target]), "EXPECTED_ERRORS", ())):
            raise
        print(f"{label}: {exc}", file=sys.stderr)
        return 1
    return 0
