"""smartcompute.db: the pool's connections survive the database ending them while they sit idle."""

from __future__ import annotations

from sqlalchemy import text

from smartcompute.db import make_engine


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_pooled_connection_its_server_ended_is_replaced_before_it_is_used(own_database):
    engine = make_engine(own_database.url, pool_size=1)
    try:
        ended = _backend_pid(engine)
        own_database.cut_connections()  # as a restart or failover does
        assert _backend_pid(engine) != ended
    finally:
        engine.dispose()


def test_a_pooled_connection_still_open_is_used_again(own_database):
    engine = make_engine(own_database.url, pool_size=1)
    try:
        assert _backend_pid(engine) == _backend_pid(engine)
    finally:
        engine.dispose()
