"""`smartcompute credits ...`: operator commands for the credit ledger."""

from __future__ import annotations

import uuid

import click


@click.group()
def credits() -> None:
    """Grant credits and show balances."""


# A ledger amount is a PostgreSQL bigint. Unknown options are taken as arguments so that "-5" is an amount.
_AMOUNT = click.IntRange(-(2**63 - 1), 2**63 - 1)


@credits.command("grant", context_settings={"ignore_unknown_options": True})
@click.argument("email")
@click.argument("amount", type=_AMOUNT)
@click.option("--note", default="granted by an operator", show_default=True)
def grant_credits(email: str, amount: int, note: str) -> None:
    """Add AMOUNT credits (negative to take back) to the account of the user EMAIL; prints the new balance."""
    from smartcompute.accounts import services as accounts
    from smartcompute.accounts.models import User
    from smartcompute.billing import ledger
    from smartcompute.cli import _sessions
    from sqlalchemy.exc import IntegrityError

    with _sessions()() as session:
        try:
            account_id = session.get(User, accounts.find_user_id(session, email)).account_id
            ledger.grant(session, account_id, amount, f"grant:{uuid.uuid4()}", note=note)
            session.commit()
        except accounts.AccountError as error:
            raise click.ClickException(str(error)) from None
        except IntegrityError:
            raise click.ClickException("the balance cannot go below zero or below what jobs hold") from None
        click.echo(str(ledger.balance_of(session, account_id).balance))
