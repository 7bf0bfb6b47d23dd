"""On Redis, the broker connection keeps one redis-py client per channel for kombu's own commands, and records
deliveries until they are acknowledged. A worker warns at start when its Redis may evict queued messages."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from kombu import Exchange, Producer, Queue
from redis import Redis

from config import Settings
from tests.support import celery_worker, free_port, redis_server_command, stop_process_group, wait_until
from workers.celery_app import create_celery_app
from workers.redis_transport import Transport, eviction_policy_risk


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


@pytest.fixture
def redis_server(tmp_path):
    """Start a Redis of the test's own with extra options; yields a function taking them and returning its URL."""
    servers = []

    def start(*options: str) -> str:
        port = free_port()
        servers.append(
            subprocess.Popen(
                redis_server_command(tmp_path, "--port", str(port), *options),
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        client = Redis(port=port)
        wait_until(lambda: _answers(client), 10, "the private redis-server to start")
        return f"redis://127.0.0.1:{port}/0"

    yield start
    for server in servers:
        stop_process_group(server, grace=5)


def _answers(client: Redis) -> bool:
    try:
        return client.ping()
    except Exception:
        return False


@pytest.mark.parametrize(
    "options, warned",
    [
        (("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"), True),
        (("--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru"), False),  # kombu's queues have no TTL
        (("--maxmemory-policy", "noeviction"), False),
        (("--maxmemory-policy", "allkeys-lru", "--rename-command", "CONFIG", '""'), False),  # a managed Redis
    ],
)
def test_a_redis_that_may_evict_queued_messages_is_named(redis_server, options, warned):
    risk = eviction_policy_risk(Redis.from_url(redis_server(*options)))
    assert (risk is not None) == warned
    if warned:
        assert "allkeys-lru" in risk and "noeviction" in risk


def test_a_worker_warns_at_start_when_its_redis_broker_may_evict(redis_server, base_env, tmp_path):
    url = redis_server("--maxmemory-policy", "allkeys-random")
    with celery_worker({**base_env, "BROKER_URL": url}, tmp_path) as worker:
        assert "maxmemory-policy is allkeys-random" in worker.log()
