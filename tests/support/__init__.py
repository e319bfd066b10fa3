"""Helpers shared by the test suite: environments, servers and a Chainlit socket client."""
