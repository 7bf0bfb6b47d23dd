"""The scenario table: incidents a user expects to see, and few false ones on the same hosts with nothing wrong."""

import pytest

from tests.detection.incident_scenarios import DAY, SCENARIOS, clean_hosts, incidents_of, index_of, matches

FALSE_INCIDENTS_PER_HOST_PER_DAY = 1.0


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_the_incidents_a_user_expects_are_found(scenario):
    host, expected = scenario.build(True)
    found = incidents_of(host)
    for wanted in expected:
        assert any(matches(host, incident, wanted) for incident in found), (wanted, found)


def _clean_host_cases() -> list:
    # The widest host takes seconds to score; the fast run leaves it out.
    return [
        pytest.param(name, host, id=name, marks=[pytest.mark.slow] if len(host.metrics) >= 100 else [])
        for name, host in clean_hosts().items()
    ]


@pytest.mark.parametrize("name, host", _clean_host_cases())
def test_a_host_with_nothing_wrong_gets_at_most_one_false_incident_a_day(name, host):
    days = max(1.0, (host.timestamps.max() - host.timestamps.min()) / DAY)
    assert len(incidents_of(host)) <= FALSE_INCIDENTS_PER_HOST_PER_DAY * days


def test_a_routine_nightly_job_is_learned_within_three_nights():
    host = clean_hosts()["a 15-minute job every night at 02:00, ten nights"]
    late = [incident for incident in incidents_of(host) if index_of(host, incident["start"]) > 3 * 1440]
    assert late == []
