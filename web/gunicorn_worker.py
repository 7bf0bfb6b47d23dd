"""gunicorn's threaded request worker, made to hold up against slow, hostile and crowding clients.

- Requests gunicorn cannot parse are answered in the API's one error format (web/unparsable.py), not HTML.
- Each request is gathered whole in the event loop before a thread sees it (web/request_arrival.py), so slow
  senders (slowloris, slow bodies) hold no thread; one not sent within REQUEST_RECEIVE_TIMEOUT is answered 408.
- Requests sent without waiting for the answers (HTTP/1.1 pipelining) are answered in order; gunicorn's own worker
  left them unanswered until the keep-alive ran out.
- An answer its client is not ready to take is sent by the event loop as the client reads (web/client_socket.py),
  so slow readers hold no thread either; one that takes none of it within REQUEST_RECEIVE_TIMEOUT is let go.
- A connection whose client may still be sending a body the app refused unread is closed only once that client
  stops, so that it can read the answer.
- At the connection limit (`worker_connections`), a newcomer takes the place of a connection that has kept the
  process waiting on its client for over a second (`_replaceable`), idle keep-alives first, as nginx lets them go;
  past three quarters of the answer budget, the readers idle longest are let go. With nothing to let go, or out of
  file descriptors, it stops accepting for a while and serves the connections it has: gunicorn's own worker spun
  a core instead, or crashed on the failed accept, dropping every request in progress.
"""
from __future__ import annotations

import errno
import io
import os
import selectors
import socket
import sys
import time
from functools import partial
from typing import Callable

from gunicorn import util
from gunicorn.workers.gthread import TConn, ThreadWorker

from web import request_arrival
from web.client_socket import ClientSocket, UnsentBudget
from web.problems import Problem
from web.unparsable import BARE_LINE_FEED, HEAD_TOO_LARGE, TOO_SLOW, problem_bytes, problem_for, refuses_head

_RECEIVE_CHUNK = 65536
# accept() failing for want of file descriptors or memory: pause accepting this long, as nginx does
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_ACCEPT_PAUSE_SECONDS = 0.5
_NOT_READING = "closing a connection whose client took none of its answer for %s s"
_CROWDED_PATIENCE_SECONDS = 1.0  # at the connection limit or past the answer budget, how long a client is waited on
# Closing on a client still sending makes the kernel send a reset, which can destroy the answer before the client
# reads it; such a client's input is read and dropped first while it keeps coming (as nginx's lingering_close).
_LINGER_SECONDS, _LINGER_IDLE_SECONDS = 30, 5


class Connection(TConn):
    """gunicorn's connection, with what the worker knows of the requests arriving on it."""

    def __init__(self, *args):
        super().__init__(*args)
        self.received_whole = False  # the request being answered arrived whole, its body included
        self.next_arrival: request_arrival.Arrival | None = None  # the start of the next one, sent early


def received(sock) -> bytes | None:
    """What a client has sent, read in the event loop: None if nothing yet, empty once it has gone."""
    try:
        return sock.recv(_RECEIVE_CHUNK)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


def read_ahead(parser) -> bytes:
    """The bytes the parser holds beyond the request it has just answered: the start of the next one. The rest
    of the answered request's body is skipped first, as the parser itself would; it must have arrived whole,
    or this waits for it."""
    while parser.mesg.body.read(8192):
        pass
    unreader = parser.unreader
    ahead, unreader.buf = unreader.buf.getvalue(), io.BytesIO()
    return ahead


class ProblemThreadWorker(ThreadWorker):
    def init_process(self):
        from config import Settings  # checked already by gunicorn_conf.on_starting

        settings = Settings.from_env()
        self.receive_timeout, self.body_limit = settings.REQUEST_RECEIVE_TIMEOUT, settings.MAX_CONTENT_LENGTH
        self.arriving: dict[TConn, request_arrival.Arrival] = {}
        self.unsent_budget = UnsentBudget(settings.UNSENT_ANSWERS_LIMIT)
        self.sending: dict[Connection, tuple[bool, float]] = {}  # answers being sent: (keep-alive, deadline)
        self.lingering: dict[Connection, tuple[float, float]] = {}  # closing: (deadline, idle deadline)
        # The event loop always waits on the sockets it holds (gunicorn's stops at worker_connections); the
        # limit is kept by taking the listeners out of it instead (_accept_when_able).
        self.connection_limit, self.worker_connections = self.worker_connections, sys.maxsize
        self.accepting, self.acceptors, self.accept_resumes_at = True, {}, 0.0
        super().init_process()

    def accept(self, server, listener):
        try:
            if self.cfg.is_ssl:  # gunicorn's own TLS: the bytes must be read through the wrapped socket
                super().accept(server, listener)
            else:
                sock, client = listener.accept()
                if self.nr_conns >= self.connection_limit:
                    self._make_room()
                client_socket = ClientSocket(sock, self.unsent_budget, send_timeout=_CROWDED_PATIENCE_SECONDS)
                self._gather(Connection(self.cfg, client_socket, client, server))
        except OSError as error:
            if error.errno in _OUT_OF_RESOURCES:
                self.log.warning("cannot accept connections (%s); pausing for %.1f s with %d open",
                                 os.strerror(error.errno), _ACCEPT_PAUSE_SECONDS, self.nr_conns)
                self.accept_resumes_at = time.monotonic() + _ACCEPT_PAUSE_SECONDS
            elif error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
        self._accept_when_able()

    def _gather(self, conn: Connection) -> None:
        """A new connection: the event loop gathers its first request."""
        self.nr_conns += 1
        self.arriving[conn] = request_arrival.begin(time.monotonic(), self.receive_timeout)
        with self._lock:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))

    def _replaceable(self) -> Callable[[], None] | None:
        """At the connection limit, how to let go of the connection a newcomer takes the place of: one that has kept
        this process waiting on its client for over a second. First one whose answer is out and whose client is still
        sending a refused body, then the oldest idle keep-alive (no request is lost either way), then the request
        that began arriving first (408), then the answer whose client has taken nothing of it for longest."""
        since = time.monotonic() - _CROWDED_PATIENCE_SECONDS
        with self._lock:  # request threads add to these
            lingering = next(iter(self.lingering.items()), None)
            idle = self._keep[0] if self._keep else None
            reader = min(self.sending.items(), key=lambda item: item[1][1], default=None)
        arrival = next(iter(self.arriving.items()), None)
        if lingering and lingering[1][0] - _LINGER_SECONDS <= since:
            return partial(self._end_lingering, lingering[0])
        if idle and idle.timeout - self.cfg.keepalive <= time.time() - _CROWDED_PATIENCE_SECONDS:
            return partial(self._drop_idle, idle)
        if arrival and arrival[1].began <= since:
            return partial(self._let_go, arrival[0], TOO_SLOW if arrival[1].data else None)
        if reader and reader[1][1] - self.receive_timeout <= since:
            return partial(self._sent, reader[0], False)
        return None

    def _make_room(self) -> None:
        let_go = self._replaceable()
        if let_go is not None:  # else what could give way when the listener was last checked has gone on
            let_go()

    def _drop_idle(self, conn: TConn) -> None:
        with self._lock:
            self._keep.remove(conn)
            self.poller.unregister(conn.sock)
        self._close(conn)

    def _accept_when_able(self) -> None:
        """Listen while below the connection limit, or able to make room, and not pausing; otherwise leave new
        clients in the backlog."""
        able = ((self.nr_conns < self.connection_limit or self._replaceable() is not None)
                and time.monotonic() >= self.accept_resumes_at)
        if able == self.accepting:
            return
        with self._lock:
            for listener in self.sockets:
                if able:
                    self.poller.register(listener, selectors.EVENT_READ, self.acceptors[listener])
                else:
                    self.acceptors[listener] = self.poller.unregister(listener).data
        self.accepting = able

    def on_client_socket_readable(self, conn, client):
        """Bytes from a new connection, or from a kept-alive one (gunicorn registers those with this too)."""
        if self.cfg.is_ssl:
            return super().on_client_socket_readable(conn, client)
        self._receive(conn)

    def _receive(self, conn: TConn) -> None:
        """Take what the client sent; hand the request to a thread once it is whole."""
        arrival = self.arriving.get(conn)
        if arrival is None:  # the next request on a kept-alive connection begins
            with self._lock:
                try:
                    self._keep.remove(conn)
                except ValueError:  # its keep-alive just ran out
                    return
            arrival = self.arriving[conn] = (
                conn.next_arrival or request_arrival.begin(time.monotonic(), self.receive_timeout))
            conn.next_arrival = None
        data = received(conn.sock)
        if data is None:
            return
        if not data:  # the client went away
            self._let_go(conn)
            return
        arrival.data += data
        try:
            complete = self._is_whole(conn, arrival)
        except request_arrival.HeadTooLarge:
            self._let_go(conn, HEAD_TOO_LARGE)
            return
        except request_arrival.BareLineFeed:
            self._let_go(conn, BARE_LINE_FEED)
            return
        if not complete:
            self._ask_for_body(conn, arrival)
            return
        with self._lock:
            self.poller.unregister(conn.sock)
        del self.arriving[conn]
        conn.init()
        conn.parser.unreader.unread(request_arrival.request_bytes(arrival))
        conn.received_whole = arrival.size is not None
        self.enqueue_req(conn)

    def _is_whole(self, conn: Connection, arrival: request_arrival.Arrival) -> bool:
        return request_arrival.is_complete(arrival, time.monotonic(), timeout=self.receive_timeout,
                                           body_limit=self.body_limit, refuses_head=partial(refuses_head, conn))

    @staticmethod
    def _ask_for_body(conn: Connection, arrival: request_arrival.Arrival) -> None:
        """Tell a client that waits for it (`Expect: 100-continue`) to send its body, once."""
        if arrival.continue_due and not arrival.continue_sent:
            arrival.continue_sent = True
            try:
                conn.sock.send(request_arrival.CONTINUE)
            except OSError:  # a client that is not reading: its receive time runs out
                pass

    def handle(self, conn):
        """Answer the request, then each one its client has already sent behind it (pipelining), while the
        client takes the answers as they come."""
        keepalive, conn = super().handle(conn)
        while keepalive and self._request_sent_early(conn):
            keepalive, conn = super().handle(conn)
        return keepalive, conn

    def handle_request(self, req, conn):
        if not self.cfg.is_ssl and not conn.received_whole:
            req.force_close()  # its body was not waited for (the app refuses it) and may still be coming
        try:
            return super().handle_request(req, conn)
        except TimeoutError:  # past the unsent budget, a client took none of its answer in time (client_socket)
            self.log.warning(_NOT_READING + " with the answers held for slow readers at their limit",
                             _CROWDED_PATIENCE_SECONDS)
            return False

    def _request_sent_early(self, conn: Connection) -> bool:
        """Whether the parser holds a whole next request, sent before its answer was (pipelining); the socket
        will not signal those bytes. The start of one not yet whole is kept for the event loop to complete."""
        if self.cfg.is_ssl or not conn.received_whole or conn.sock.unsent:
            return False
        ahead = read_ahead(conn.parser)
        if not ahead:
            return False
        arrival = request_arrival.begin(time.monotonic(), self.receive_timeout)
        arrival.data += ahead
        try:
            complete = self._is_whole(conn, arrival)
        except request_arrival.HeadTooLarge:
            complete = True  # gunicorn's parser refuses it, 431
        except request_arrival.BareLineFeed:
            complete = False  # refused by the event loop, once the client sends more or its time runs out
        if not complete:  # the event loop gathers the rest, and hands it over with these bytes
            self._ask_for_body(conn, arrival)
            conn.next_arrival = arrival
            return False
        conn.parser.unreader.unread(request_arrival.request_bytes(arrival))
        conn.received_whole = arrival.size is not None
        return True

    def finish_request(self, fs):
        """gunicorn's, once the answer is out; until then the event loop sends it as the client reads."""
        if fs.cancelled() or fs.exception() is not None or self.cfg.is_ssl:
            return super().finish_request(fs)
        keepalive, conn = fs.result()
        if conn.sock.unsent:
            with self._lock:
                self.sending[conn] = (keepalive, time.monotonic() + self.receive_timeout)
                self.poller.register(conn.sock, selectors.EVENT_WRITE, partial(self._send_unsent, conn))
        elif keepalive and self.alive:
            super().finish_request(fs)
        else:
            self._close_after_answer(conn)

    def _close_after_answer(self, conn: Connection) -> None:
        """Close once the answer is out; if the client may still be sending a body, only after reading it."""
        if conn.received_whole or conn.sock.unsent:  # (unsent: a client that stopped reading)
            self._close(conn)
            return
        now = time.monotonic()
        try:
            conn.sock.shutdown(socket.SHUT_WR)  # the answer, then the end of the stream: the client sees both
            conn.sock.setblocking(False)
        except OSError:
            self._close(conn)
            return
        with self._lock:
            self.lingering[conn] = (now + _LINGER_SECONDS, now + _LINGER_IDLE_SECONDS)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drop_input, conn))

    def _drop_input(self, conn: Connection, _sock) -> None:
        data = received(conn.sock)
        if data is None:
            return
        if data:
            self.lingering[conn] = (self.lingering[conn][0], time.monotonic() + _LINGER_IDLE_SECONDS)
        else:
            self._end_lingering(conn)

    def _end_lingering(self, conn: Connection) -> None:
        with self._lock:
            del self.lingering[conn]
            self.poller.unregister(conn.sock)
        self._close(conn)

    def _send_unsent(self, conn: Connection, _sock) -> None:
        keepalive, deadline = self.sending[conn]
        try:
            if conn.sock.send_unsent():
                deadline = time.monotonic() + self.receive_timeout
        except OSError:  # the client has gone
            keepalive = False
        else:
            if conn.sock.unsent:
                self.sending[conn] = (keepalive, deadline)
                return
        self._sent(conn, keepalive)

    def _sent(self, conn: Connection, keepalive: bool) -> None:
        """The answer is out (or the client gone): the next request, already sent or still to come, or close."""
        with self._lock:
            del self.sending[conn]
            self.poller.unregister(conn.sock)
        if not (keepalive and self.alive):
            self._close_after_answer(conn)
            return
        conn.sock.setblocking(False)
        try:
            sent_early = self._request_sent_early(conn)
        except OSError:  # a body that had not arrived after all: the event loop must not wait for it
            self._close(conn)
            return
        if sent_early:
            self.enqueue_req(conn)
            return
        conn.set_timeout()
        with self._lock:
            self._keep.append(conn)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))

    def murder_keepalived(self):
        """Once per turn of the event loop: connections whose keep-alive or receive time ran out go."""
        super().murder_keepalived()
        now = time.monotonic()
        for conn, arrival in [(conn, arrival) for conn, arrival in self.arriving.items() if arrival.deadline <= now]:
            self._let_go(conn, TOO_SLOW if arrival.data else None)
        with self._lock:
            not_reading = [conn for conn, (_, deadline) in self.sending.items() if deadline <= now]
            crowding = self.unsent_budget.crowding(
                [(conn, deadline - self.receive_timeout, len(conn.sock.unsent))
                 for conn, (_, deadline) in self.sending.items()], now - _CROWDED_PATIENCE_SECONDS,
            ) if self.unsent_budget.crowded else []
            done_lingering = [conn for conn, deadlines in self.lingering.items() if min(deadlines) <= now]
        for conn in not_reading:
            self.log.info(_NOT_READING, self.receive_timeout)
            self._sent(conn, keepalive=False)
        if crowding:
            self.log.warning("letting go of %d clients that took none of their answers for %s s, with %d bytes of "
                             "answers held (UNSENT_ANSWERS_LIMIT %d)", len(crowding), _CROWDED_PATIENCE_SECONDS,
                             self.unsent_budget.held, self.unsent_budget.limit)
        for conn in crowding:
            if conn in self.sending:
                self._sent(conn, keepalive=False)
        for conn in done_lingering:
            self._end_lingering(conn)
        self._accept_when_able()

    def _close(self, conn: TConn) -> None:
        """A connection this worker counted ends."""
        self.nr_conns -= 1
        conn.close()

    def _let_go(self, conn: TConn, problem: Problem | None = None) -> None:
        """Close a connection whose request is not coming (in time, or at all); answer `problem` first."""
        del self.arriving[conn]
        with self._lock:
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass
        if problem is not None:
            try:
                conn.sock.send(problem_bytes(problem))  # non-blocking: an answer that does not fit is dropped
            except OSError:
                pass
        self._close(conn)

    def handle_error(self, req, client, addr, exc):
        problem = problem_for(exc)
        if problem.status == 500:
            self.log.exception("error handling a request before the app saw it")
        else:
            peer = addr[0] if addr else ""  # a unix socket has no address
            self.log.warning("unparsable request from ip=%s answered %s: %.200r", peer, problem.status, str(exc))
        try:
            util.write_nonblock(client, problem_bytes(problem))
        except OSError:
            self.log.debug("could not send the error response")
