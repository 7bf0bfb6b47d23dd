"""On Redis, the broker connection keeps one redis-py client per channel for kombu's own commands, and records
deliveries until they are acknowledged."""
from __future__ import annotations

import uuid

from kombu import Exchange, Producer, Queue
from redis import Redis

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


def test_a_delivery_stays_recorded_until_its_ack_and_the_record_is_a_plain_pipeline(base_env):
    celery = create_celery_app(Settings.from_mapping(base_env))
    name = f"test-qos-{uuid.uuid4().hex}"
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name, auto_delete=True)
    with celery.connection_for_write() as connection:
        channel = connection.default_channel
        Producer(channel).publish({"n": 1}, exchange=queue.exchange, routing_key=name, declare=[queue])
        message = queue(channel).get(no_ack=False)
        tag, redis = message.delivery_tag, Redis.from_url(base_env["REDIS_URL"])
        unacked, index = (channel.global_keyprefix + key for key in (channel.unacked_key, channel.unacked_index_key))
        assert redis.hexists(unacked, tag) and redis.zscore(index, tag) is not None

        message.ack()

        assert not redis.hexists(unacked, tag) and redis.zscore(index, tag) is None
        with channel.qos.pipe_or_acquire() as pipe:  # one round trip, without MULTI/EXEC around the two commands
            assert pipe.transaction is False
