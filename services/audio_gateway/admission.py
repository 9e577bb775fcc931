"""Which pages may open the gateway's WebSocket: the Origin check (PROTOCOL.md section 12).

A browser names the page that opens a WebSocket in the `Origin` header; any page on the web can try to open
one to a gateway on the viewer's machine. Allowed: the gateway's own origin (the Origin's host and port are
those the browser connected to, the `Host` header), and the origins given with --allow-origin (`*` allows
any). A request without an Origin does not come from a page (a script, `aurora watch`, a benchmark): allowed.
"""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit


def normalise_origin(value: str) -> str:
    """An --allow-origin value as browsers write an Origin: `scheme://host[:port]`, lowercase, no path;
    `*` (any) and `null` (a file or sandboxed page) as they are. Raises ValueError for anything else."""
    text = value.strip().lower().rstrip("/")
    if text in ("*", "null"):
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        raise ValueError(f"{value!r} is no origin: write scheme://host[:port], e.g. http://localhost:5173")
    return f"{parts.scheme}://{parts.netloc}"


def origin_arg(value: str) -> str:
    try:
        return normalise_origin(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def origin_allowed(origin: str | None, host: str | None, allowed: frozenset[str]) -> bool:
    """Whether a WebSocket request with this `Origin` (None: no header) and `Host` header may be accepted."""
    if origin is None:
        return True
    origin = origin.strip().lower().rstrip("/")
    if "*" in allowed or origin in allowed:
        return True
    parts = urlsplit(origin)
    return (parts.scheme in ("http", "https") and bool(parts.netloc) and host is not None
            and parts.netloc == host.strip().lower())
