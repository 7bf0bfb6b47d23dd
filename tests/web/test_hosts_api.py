"""GET /v1/hosts and /v1/hosts/{name}: an account's hosts by name, a page at a time, and no one else's."""

from __future__ import annotations

from smartcompute.hosts.models import Host


def add_hosts(sessions, account, *names: str) -> None:
    with sessions() as session:
        session.add_all([Host(account_id=account.account_id, name=name, attributes={"cpu_cores": 4}) for name in names])
        session.commit()


def test_hosts_are_listed_by_name_a_page_at_a_time(client, sessions, account):
    add_hosts(sessions, account, "db-1", "app-2", "app-1")
    first = client.get("/v1/hosts?limit=2", headers=account.headers).get_json()
    assert [host["name"] for host in first["items"]] == ["app-1", "app-2"]
    rest = client.get(f"/v1/hosts?limit=2&cursor={first['next_cursor']}", headers=account.headers).get_json()
    assert [host["name"] for host in rest["items"]] == ["db-1"] and rest["next_cursor"] is None


def test_a_host_shows_its_attributes_and_no_open_incidents_before_any_job(client, sessions, account):
    add_hosts(sessions, account, "rack-7/node 3")
    host = client.get("/v1/hosts/rack-7%2Fnode%203", headers=account.headers)
    assert host.status_code == 200
    assert host.get_json() == {
        "name": "rack-7/node 3",
        "attributes": {"cpu_cores": 4},
        "imported": None,
        "baseline_updated_at": None,
        "last_job": None,
        "open_incidents": [],
    }


def test_another_accounts_host_is_not_found(client, sessions, account, other_account):
    add_hosts(sessions, account, "private-1")
    answer = client.get("/v1/hosts/private-1", headers=other_account.headers)
    assert answer.status_code == 404 and answer.mimetype == "application/problem+json"
    assert client.get("/v1/hosts", headers=other_account.headers).get_json()["items"] == []


def test_a_cursor_the_api_did_not_give_is_refused(client, account):
    answer = client.get("/v1/hosts?cursor=@@@", headers=account.headers)
    assert answer.status_code == 422 and answer.get_json()["errors"][0]["field"] == "cursor"
