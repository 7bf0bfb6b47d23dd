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

from contextlib import contextmanager

from kombu.transport import redis as kombu_redis


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
            self._own_client = self._create_client()
        yield self._own_client


class Transport(kombu_redis.Transport):
    Channel = Channel
