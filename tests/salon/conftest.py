"""The agents' fixtures (a bank per agent on the real server, names unique to a test) for the salon's tests."""

from tests.agent import conftest as agent_fixtures

connect_as = agent_fixtures.connect_as
names = agent_fixtures.names
