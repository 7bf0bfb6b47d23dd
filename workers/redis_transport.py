"""kombu's Redis transport, keeping one redis-py client per channel for its own commands, and recording and
acknowledging deliveries without MULTI/EXEC.

kombu builds a new redis-py client for every publish, every record of a delivered message and every ack
(`Channel.conn_or_acquire`). A redis-py client is a thin, thread-safe front to the channel's connection pool,
but building one copies its table of response callbacks: about 60 us each time, three or four times per job
in the worker's main process and once per publish in the API. This channel builds it once per pool. Used
through Celery's `broker_transport` setting when the broker is Redis (workers/celery_app.py); a
`redis+socket://` URL names kombu's own transport, which kombu then keeps.

kombu emulates acknowledgements on Redis: a worker records each message it takes (ZADD to the unacked index,
HSET of its payload) and drops the record when it acks (ZREM, HDEL). kombu sends each pair as a MULTI/EXEC
transaction, four commands to write and four replies to parse in the worker's main process, for every job. A
plain pipeline sends the same two commands in the same single write and round trip. Nothing needs the pair
to be atomic: the only other reader is the restore sweep, which takes records older than the visibility
timeout (never one being written now) and re-reads each payload inside its own WATCH transaction before
moving it, and a lost ZREM/HDEL half after a Redis crash leaves at worst an orphaned record of an acked
message. Redelivery (`restore_by_tag`) keeps kombu's transaction.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from kombu.transport import redis as kombu_redis

log = logging.getLogger("smartcompute.worker")
# Policies under which Redis may drop any key when full, the broker's queues included. The volatile-* ones
# only drop keys with a time to live, which kombu's queues do not have; noeviction refuses writes instead,
# so a publish fails and the job is marked unsent.
_EVICTS_ANY_KEY = ("allkeys-lru", "allkeys-lfu", "allkeys-random")


class QoS(kombu_redis.QoS):
    @contextmanager
    def pipe_or_acquire(self, pipe=None, client=None):
        if pipe:  # part of a caller's transaction (the restore of a message): left as it is
            yield pipe
            return
        with self.channel.conn_or_acquire(client) as client:
            yield client.pipeline(transaction=False)


class Channel(kombu_redis.Channel):
    QoS = QoS
    _own_client = None

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        # A reconnect gives the channel a new pool; a client of the old one is not reused.
        if self._own_client is None or self._own_client.connection_pool is not self.pool:
            self._own_client = self._new_client()
        yield self._own_client

    def _new_client(self):
        """The client kombu would build, from the channel's public parts: its client class (which adds the
        global key prefix) and its connection pool."""
        credentials = self.pool.connection_kwargs.get("credential_provider")
        return self.Client(connection_pool=self.pool, **({"credential_provider": credentials} if credentials else {}))


class Transport(kombu_redis.Transport):
    Channel = Channel


def eviction_policy_risk(client) -> str | None:
    """What to tell the operator when this Redis may evict the broker's messages when it is full; None when it
    will not, or when it does not say (managed Redis often disables CONFIG)."""
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
    except Exception:
        return None
    if policy not in _EVICTS_ANY_KEY:
        return None
    return (
        f"the Redis broker's maxmemory-policy is {policy}: when full it may drop queued messages, which the "
        "re-publisher then sends again only after REPUBLISH_MISSING_AFTER or REPUBLISH_STALE_AFTER; "
        "set it to noeviction"
    )


def warn_if_broker_may_evict(sender=None, instance=None, **kwargs) -> None:
    """Celery's `celeryd_after_setup` signal: one warning at a worker's start when its Redis broker may evict."""
    app = getattr(instance, "app", None)
    if app is None or not app.conf.broker_url.startswith(("redis", "rediss")):
        return
    try:
        with app.connection_for_read() as connection:
            risk = eviction_policy_risk(connection.default_channel.client)
    except Exception:  # the broker is not up yet: the worker reports that itself
        return
    if risk:
        log.warning(risk)
