"""The `smartcompute` operator CLI. Errors are one line on stderr and a non-zero exit."""

from __future__ import annotations

import sys
from typing import get_args

import click

from smartcompute.accounts import services as accounts
from smartcompute.accounts.models import ROLES
from smartcompute.accounts.schemas import Scope


def _sessions():
    from config import ConfigError, database_url_from_env
    from smartcompute.db import make_engine, make_session_factory

    try:
        return make_session_factory(make_engine(database_url_from_env(), pool_size=1))
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


class _OperatorCommands(click.Group):
    """A database that cannot be reached, or that refuses a statement, is the same one-line error as any other."""

    def invoke(self, ctx: click.Context):
        from sqlalchemy.exc import DBAPIError, OperationalError

        from smartcompute.db import driver_reason

        try:
            return super().invoke(ctx)
        except DBAPIError as error:
            what = "cannot reach the database" if isinstance(error, OperationalError) else "the database refused it"
            raise click.ClickException(f"{what}: {driver_reason(error)}") from None


@click.group(cls=_OperatorCommands)
def main() -> None:
    """SmartCompute operator commands."""


@main.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="owner", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--account-of", metavar="EMAIL", help="Join the account of this existing user instead of a new one.")
def create_user(email: str, role: str, password_stdin: bool, account_of: str | None) -> None:
    """Create a user (in a new account unless --account-of is given)."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    with _sessions()() as session:
        try:
            account_id = None
            if account_of:
                from smartcompute.accounts.models import User

                account_id = session.get(User, accounts.find_user_id(session, account_of)).account_id
            user_id = accounts.create_user(session, email, password=password, role=role, account_id=account_id)
            session.commit()
        except accounts.AccountError as error:
            raise click.ClickException(str(error)) from None
    click.echo(str(user_id))


@main.group("api-keys")
def api_keys() -> None:
    """Manage API keys."""


@api_keys.command("create")
@click.argument("email")
@click.option("--name", default="default", show_default=True)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(get_args(Scope)),
    help="repeat for each scope; default: jobs:read and jobs:write (a key never exceeds its user's role)",
)
def create_api_key(email: str, name: str, scopes: tuple[str, ...]) -> None:
    """Create an API key for a user and print it, alone, on stdout. It cannot be shown again."""
    with _sessions()() as session:
        try:
            _, key = accounts.create_api_key(
                session, accounts.find_user_id(session, email), name=name, scopes=scopes or accounts.DEFAULT_SCOPES
            )
            session.commit()
        except accounts.AccountError as error:
            raise click.ClickException(str(error)) from None
    click.echo(key)


def _attach_detect() -> None:
    try:
        from smartcompute.detection.cli import detect
    except ImportError:  # the detector's CLI ships with the engine
        return
    main.add_command(detect)


_attach_detect()


def _attach_credits() -> None:
    from smartcompute.billing.cli import credits

    main.add_command(credits)


_attach_credits()


def _attach_access_control() -> None:
    from smartcompute.accounts.cli import attach

    attach(main, users)


_attach_access_control()


def _attach_ingest() -> None:
    from smartcompute.ingest.cli import agent, import_group

    main.add_command(agent)
    main.add_command(import_group)


_attach_ingest()
