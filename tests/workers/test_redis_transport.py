"""On Redis, the broker connection keeps one redis-py client per channel for kombu's own commands."""
from __future__ import annotations

from config import Settings
from workers.celery_app import create_celery_app
from workers.redis_transport import Transport


def test_a_redis_broker_channel_reuses_its_client_for_every_command(base_env):
    celery = create_celery_app(Settings.from_mapping(base_env))
    with celery.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(connection.transport, Transport)
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.connection_pool is channel.pool
            assert first.ping()
