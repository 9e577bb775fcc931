"""The manual shown to the models, generated from the op table. It says what each op does, never what to make."""

from __future__ import annotations

from proto.ops.table import BLANK, BRUSHES, COLOURS, DURATIONS, OPS


def _usage(spec) -> str:
    parts = [spec.name]
    for arg in spec.args:
        parts.append(f"<{arg.name}>" if arg.default is None else f"[{arg.name}]")
    return " ".join(parts)


def manual() -> str:
    lines = ["Write one op per line. Ops:"]
    for spec in OPS.values():
        lines.append(f"  {_usage(spec)}: {spec.summary}. Example: {spec.example}")
    lines.append("Directions: " + ", ".join(OPS["move"].args[0].choices) + ".")
    lines.append("Colours (letter on the canvas): "
                 + ", ".join(f"{name} {c.code}" for name, c in COLOURS.items()) + f"; a blank cell is {BLANK}")
    lines.append("Brushes: " + ", ".join(f"{name} ({len(cells)} cell{'s' if len(cells) > 1 else ''})" for name, cells in BRUSHES.items()) + ".")
    lines.append("Durations: " + ", ".join(DURATIONS) + ".")
    lines.append("The canvas shows x across the top and y down the side; @ marks the cursor.")
    return "\n".join(lines)
