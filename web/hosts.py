"""The hosts API: the account's hosts, and each host's open incidents."""

from __future__ import annotations

from typing import Annotated

from flask import Blueprint
from pydantic import BaseModel, StringConstraints

from smartcompute.hosts import services
from smartcompute.hosts.schemas import Host, HostList
from web.access import scope
from web.auth import current_principal
from web.parameters import Cursor, PageSize
from web.problems import Problem
from web.routes import Reply, operation
from web.runtime import db

hosts = Blueprint("hosts", __name__, url_prefix="/v1/hosts")


class HostPage(BaseModel):
    limit: PageSize = 50
    cursor: Cursor = None


@operation(
    hosts,
    "GET",
    "",
    "listHosts",
    "List the account's hosts by name",
    access=scope("jobs:read"),
    query=HostPage,
    responses={200: Reply("A page of hosts", HostList)},
)
def index(query: HostPage) -> HostList:
    items, next_cursor = services.list_hosts(
        db(), current_principal().account_id, limit=query.limit, cursor=query.cursor
    )
    return HostList(items=items, next_cursor=next_cursor)


@operation(
    hosts,
    "GET",
    "/<path:name>",
    "getHost",
    "A host, with its open incidents",
    access=scope("jobs:read"),
    path={"name": Annotated[str, StringConstraints(min_length=1, max_length=255)]},
    responses={200: Reply("The host", Host), 404: "No such host"},
)
def show(name: str) -> Host:
    try:
        return Host(**services.get_host(db(), current_principal().account_id, name))
    except services.HostNotFound:
        raise Problem(404, "no such host", kind="not-found") from None
