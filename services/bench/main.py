"""`aurora bench`: benchmarks that print a ratio against a baseline measured in the same run."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark")
    p.add_argument("target", choices=("canvas", "agent"))
    p.add_argument("--quick", action="store_true", help="a shorter run (canvas: under 60 s; agent: under 90 s)")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.target == "agent":
        from services.bench import agent_bench

        return agent_bench.main(quick=args.quick)
    from services.bench import canvas_bench

    return canvas_bench.main(quick=args.quick)
