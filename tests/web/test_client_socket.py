"""A request thread's sends never wait for a slow client while the process's budget for unsent answers lasts
(web/client_socket.py); the event loop sends the rest as the client reads."""
from __future__ import annotations

import os
import socket
import time

import pytest

from web.client_socket import ClientSocket, UnsentBudget

ANSWER = os.urandom(2_000_000)  # far more than a socket pair's buffers take


@pytest.fixture
def pair():
    server, client = socket.socketpair()
    with server, client:
        client.settimeout(5)
        yield server, client


def test_what_the_client_cannot_take_yet_is_held_and_sent_in_order_as_it_reads(pair):
    server, client = pair
    budget = UnsentBudget(limit=len(ANSWER))
    sending = ClientSocket(server, budget, send_timeout=5)
    started = time.monotonic()
    sending.sendall(ANSWER[:1000])
    sending.sendall(ANSWER[1000:])
    assert time.monotonic() - started < 0.5 and 0 < len(sending.unsent) == budget.held
    received = bytearray()
    while len(received) < len(ANSWER):
        received += client.recv(1 << 20)
        sending.send_unsent()
    assert received == ANSWER and not sending.unsent and budget.held == 0


def test_past_the_budget_a_send_waits_for_the_client_but_only_up_to_the_send_timeout(pair):
    server, _ = pair
    sending = ClientSocket(server, UnsentBudget(limit=10_000), send_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        sending.sendall(ANSWER)
    assert 0.3 <= time.monotonic() - started < 2


def test_closing_the_connection_gives_its_unsent_bytes_back_to_the_budget(pair):
    server, _ = pair
    budget = UnsentBudget(limit=len(ANSWER))
    sending = ClientSocket(server, budget, send_timeout=5)
    sending.sendall(ANSWER)
    assert budget.held > 0
    sending.close()
    assert budget.held == 0


def test_a_crowded_budget_lets_go_of_the_readers_idle_longest_until_it_is_back_under_three_quarters():
    budget = UnsentBudget(limit=1000)
    budget.take(900)
    readers = [("recent", 9.5, 300), ("oldest", 1.0, 100), ("older", 2.0, 100), ("old", 5.0, 300)]
    assert budget.crowded and budget.crowding(readers, idle_before=9.0) == ["oldest", "older"]


def test_readers_that_took_something_lately_are_kept_however_crowded_the_budget():
    budget = UnsentBudget(limit=1000)
    budget.take(1000)
    assert budget.crowding([("recent", 9.5, 1000)], idle_before=9.0) == []


def test_a_budget_within_three_quarters_lets_go_of_no_one():
    budget = UnsentBudget(limit=1000)
    budget.take(750)
    assert not budget.crowded and budget.crowding([("oldest", 1.0, 750)], idle_before=9.0) == []
