"""Operator commands for access control: the CLI equivalents of the admin API, audited as `cli:<operator>`."""

from __future__ import annotations

import getpass
from collections.abc import Callable

import click

from smartcompute.accounts import admin, audit
from smartcompute.accounts.models import ROLES, Account, User
from smartcompute.accounts.services import AccountError, find_user_id


def _operator() -> audit.Actor:
    return audit.Actor(f"cli:{getpass.getuser()}")


def _change_user(sessions: Callable, email: str, **changes) -> None:
    with sessions() as session:
        try:
            user = session.get(User, find_user_id(session, email))
            admin.update_user(session, _operator(), user, **changes)
            session.commit()
        except AccountError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"{user.email}\t{user.role}\t{'active' if user.is_active else 'disabled'}")


@click.command("list")
@click.option("--search", "query", help="Part of an email.")
@click.option("--limit", type=click.IntRange(1, admin.MAX_RESULTS), default=50, show_default=True)
def list_users(query: str | None, limit: int) -> None:
    """List users: email, role, state, staff flag, account id."""
    with _sessions()() as session:
        for user in admin.search_users(session, query=query, limit=limit):
            state = "active" if user.is_active else "disabled"
            click.echo(f"{user.email}\t{user.role}\t{state}\t{'staff' if user.is_staff else '-'}\t{user.account_id}")


@click.command("disable")
@click.argument("email")
def disable(email: str) -> None:
    """Disable a user: their sign-ins and API keys are revoked for good (enabling them gives back neither)."""
    _change_user(_sessions(), email, is_active=False)


@click.command("enable")
@click.argument("email")
def enable(email: str) -> None:
    """Enable a disabled user."""
    _change_user(_sessions(), email, is_active=True)


@click.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
def set_role(email: str, role: str) -> None:
    """Change a user's role within their account."""
    _change_user(_sessions(), email, role=role)


@click.command("set-staff")
@click.argument("email")
@click.option("--off", is_flag=True, help="Take the staff flag away instead.")
def set_staff(email: str, off: bool) -> None:
    """Make a user platform staff (the admin API), or not."""
    with _sessions()() as session:
        try:
            user = session.get(User, find_user_id(session, email))
        except AccountError as error:
            raise click.ClickException(str(error)) from None
        user.is_staff = not off
        audit.record(
            session,
            _operator(),
            "user.staff_changed",
            account_id=user.account_id,
            target_type="user",
            target_id=user.id,
            details={"email": user.email, "is_staff": user.is_staff},
        )
        session.commit()
    click.echo(f"{email}\t{'staff' if not off else 'not staff'}")


@click.command("reset-password")
@click.argument("email")
@click.option(
    "--minutes", type=click.IntRange(1, 24 * 60), default=30, show_default=True, help="How long the token works."
)
def reset_password(email: str, minutes: int) -> None:
    """Print a single-use password-reset token for EMAIL, to hand over where no mail (SMTP_URL) is set up; the
    person sets a new password with POST /v1/auth/password-reset/confirm. Earlier tokens stop working."""
    from datetime import timedelta

    from smartcompute.accounts import passwords

    operator = _operator()
    with _sessions()() as session:
        issued = passwords.start_reset(session, email, timedelta(minutes=minutes), operator.label)
        if issued is None:
            raise click.ClickException(f"no active user with email {email}")
        audit.record(
            session,
            operator,
            "auth.password_reset_issued",
            account_id=issued.user.account_id,
            target_type="user",
            target_id=issued.user.id,
            details={"minutes": minutes},
        )
        session.commit()
    click.echo(issued.token)


@click.group("invitations")
def invitations_group() -> None:
    """Invite people to accounts (owners do it with POST /v1/account/members)."""


@invitations_group.command("issue")
@click.argument("email")
@click.option("--account-of", "owner_email", required=True, metavar="EMAIL", help="A member of the account.")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--days", type=click.IntRange(1, 90), default=7, show_default=True, help="How long it works.")
def issue_invitation(email: str, owner_email: str, role: str, days: int) -> None:
    """Print an invitation token for EMAIL to join the account of --account-of, to hand over where no mail
    (SMTP_URL) is set up; it replaces an open invitation of the same email there. The person accepts it with
    POST /v1/invitations/accept."""
    from datetime import timedelta

    from smartcompute.accounts import invitations

    with _sessions()() as session:
        try:
            account_id = session.get(User, find_user_id(session, owner_email)).account_id
            new = invitations.invite(
                session, _operator(), account_id, email=email, role=role, lifetime=timedelta(days=days)
            )
            session.commit()
        except (AccountError, invitations.AlreadyMember) as error:
            raise click.ClickException(str(error)) from None
    click.echo(new.token)


@click.group("accounts")
def accounts_group() -> None:
    """Manage customer accounts."""


@accounts_group.command("list")
@click.option("--search", "query", help="Part of the account name or of a member's email.")
@click.option("--limit", type=click.IntRange(1, admin.MAX_RESULTS), default=50, show_default=True)
def list_accounts(query: str | None, limit: int) -> None:
    """List accounts: id, plan, members, name."""
    with _sessions()() as session:
        for account, members in admin.search_accounts(session, query=query, limit=limit):
            click.echo(f"{account.id}\t{account.plan}\t{members}\t{account.name}")


@accounts_group.command("set-plan")
@click.argument("email")
@click.argument("plan")
def set_plan(email: str, plan: str) -> None:
    """Put the account of the user EMAIL on PLAN (one of the PLANS setting)."""
    from config.settings import plans_from_env

    with _sessions()() as session:
        try:
            account_id = session.get(User, find_user_id(session, email)).account_id
            account: Account = admin.set_plan(session, _operator(), account_id, plan, plans_from_env())
            session.commit()
        except (AccountError, admin.NotFound) as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"{account.id}\t{account.plan}")


def _sessions() -> Callable:
    from smartcompute.cli import _sessions as session_factory

    return session_factory()


def attach(main: click.Group, users: click.Group) -> None:
    """Add the commands to the `smartcompute` CLI (its `users` group and a new `accounts` group)."""
    for command in (list_users, disable, enable, set_role, set_staff, reset_password):
        users.add_command(command)
    main.add_command(accounts_group)
    main.add_command(invitations_group)
