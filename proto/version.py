"""The protocol version, kept equal to the one written at the top of PROTOCOL.md (a test checks)."""

PROTOCOL_VERSION = "1.8"


def major(version: str) -> int:
    """The major number of a `major.minor` version string; raises ValueError when it is not one."""
    head, _, minor = version.partition(".")
    if not (head.isascii() and head.isdigit() and minor.isascii() and minor.isdigit()):
        raise ValueError(f"not a major.minor version: {version!r}")
    return int(head)


def compatible(version: str) -> bool:
    """Peers talk when their major versions agree; minor versions only add what the other may ignore."""
    try:
        return major(version) == major(PROTOCOL_VERSION)
    except ValueError:
        return False
