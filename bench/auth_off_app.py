"""The API with authentication and rate limits left out, for bench/auth_overhead.py's baseline alone.

    gunicorn --config python:web.gunicorn_conf "bench.auth_off_app:create_app()"   # with BENCH_USER_ID set

It is the production app from `web.create_app()`, changed after it is built: the request hook that resolves the
caller's credentials is swapped for one that makes every request act as the user BENCH_USER_ID names, and the
rate limiter is disabled. Production code holds no such switch; only this module, which no deployment loads.
"""

from __future__ import annotations

import os
import uuid

from flask import Flask, g

from smartcompute.accounts.services import principal_for_user
from web import create_app as create_api
from web.auth import resolve_principal
from web.runtime import WebRuntime


def create_app() -> Flask:
    app = create_api()
    runtime: WebRuntime = app.extensions["smartcompute"]
    with runtime.sessions() as session:
        principal = principal_for_user(session, uuid.UUID(os.environ["BENCH_USER_ID"]))
    if principal is None:
        raise RuntimeError("BENCH_USER_ID: no such active user")

    def act_as_the_bench_user() -> None:
        g.principal = principal

    hooks = app.before_request_funcs[None]
    hooks[hooks.index(resolve_principal)] = act_as_the_bench_user
    for limiter in app.extensions["limiter"]:
        limiter.enabled = False
    return app
