"""`aurora bench`: benchmarks that print a ratio against a baseline measured in the same run."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark")
    p.add_argument("target", choices=("canvas",))
    p.add_argument("--quick", action="store_true", help="a shorter run (under 60 s)")
    p.set_defaults(run=run)


def run(args) -> int:
    from services.bench import canvas_bench

    return canvas_bench.main(quick=args.quick)
