"""Aurora's wire protocol: the envelope, message types, errors, topics and the op-code language.

Only this package turns bytes into messages and back. See PROTOCOL.md.
"""

from proto.version import PROTOCOL_VERSION

__all__ = ["PROTOCOL_VERSION"]
