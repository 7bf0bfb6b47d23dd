"""kombu's Redis transport, keeping one redis-py client per channel for its own commands.

kombu builds a new redis-py client for every publish, every record of a delivered message and every ack
(`Channel.conn_or_acquire`). A redis-py client is a thin, thread-safe front to the channel's connection pool,
but building one copies its table of response callbacks: about 60 us each time, three or four times per job
in the worker's main process and once per publish in the API. This channel builds it once per pool. Used
through Celery's `broker_transport` setting when the broker is Redis (workers/celery_app.py); a
`redis+socket://` URL names kombu's own transport, which kombu then keeps.
"""
from __future__ import annotations

from contextlib import contextmanager

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _own_client = None

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        # A reconnect gives the channel a new pool; a client of the old one is not reused.
        if self._own_client is None or self._own_client.connection_pool is not self.pool:
            self._own_client = self._create_client()
        yield self._own_client


class Transport(kombu_redis.Transport):
    Channel = Channel
