"""The agents' fixtures (a bank per agent on the real server, names unique to a test) for the salon's tests."""

from tests.agent.conftest import connect_as, names  # noqa: F401
