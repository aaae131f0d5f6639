"""One-off attach tickets: single use, expiring, bounded."""

from __future__ import annotations

import time

from paas.api.attach import AttachTickets


def test_a_ticket_opens_its_run_once() -> None:
    tickets = AttachTickets()
    secret = tickets.issue("app", "run.1234")
    ticket = tickets.redeem(secret)
    assert ticket is not None and (ticket.app, ticket.dyno) == ("app", "run.1234")
    assert tickets.redeem(secret) is None  # used: a second client finds nothing
    assert tickets.redeem("not-a-secret") is None


def test_an_unused_ticket_expires() -> None:
    tickets = AttachTickets(ttl=0.0)
    secret = tickets.issue("app", "run.1")
    time.sleep(0.01)
    assert tickets.redeem(secret) is None
    assert len(tickets) == 0


def test_the_table_is_bounded_and_counts_what_it_evicts() -> None:
    tickets = AttachTickets(limit=3)
    secrets = [tickets.issue("app", f"run.{i}") for i in range(5)]
    assert len(tickets) == 3 and tickets.evicted == 2
    assert tickets.redeem(secrets[0]) is None  # the oldest went first
    assert tickets.redeem(secrets[4]) is not None
