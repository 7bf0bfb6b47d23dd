"""The `services` marker follows the fixtures a test uses, so the fast run never reaches a server."""

from __future__ import annotations


def test_a_test_that_uses_the_database_through_a_fixture_is_marked_services(request, sessions):
    assert request.node.get_closest_marker("services") is not None


def test_a_test_that_uses_no_server_is_not(request, tmp_path):
    assert request.node.get_closest_marker("services") is None
