"""The hosts API: the account's hosts, and each host's open incidents."""
from __future__ import annotations

from flask import Blueprint, request

from smartcompute.hosts import services
from web.auth import current_principal, requires
from web.problems import Problem
from web.replies import json_response, query_limit
from web.runtime import db

hosts = Blueprint("hosts", __name__, url_prefix="/v1/hosts")


@hosts.get("")
@requires("jobs:read")
def index():
    items, next_cursor = services.list_hosts(db(), current_principal().account_id, limit=query_limit(),
                                             cursor=request.args.get("cursor"))
    return json_response({"items": items, "next_cursor": next_cursor})


@hosts.get("/<path:name>")
@requires("jobs:read")
def show(name: str):
    try:
        return json_response(services.get_host(db(), current_principal().account_id, name))
    except services.HostNotFound:
        raise Problem(404, "no such host", kind="not-found") from None
