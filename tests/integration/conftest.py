"""Fixtures shared by the integration tests."""

from tests.integration.miniwob_fixtures import miniwob_url

__all__ = ["miniwob_url"]
