"""Passwords: `POST /v1/auth/password` (change, signed in), `POST /v1/auth/password-reset` (mail a reset token)
and `POST /v1/auth/password-reset/confirm` (set a new password with it). All share the sign-in limits
(web/sign_in_limits.py); a reset request counts whether or not it names a user, since each may send mail."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Blueprint

from smartcompute.accounts import audit, passwords as accounts_passwords
from smartcompute.accounts.mail import MailSender
from smartcompute.accounts.schemas import Accepted, PasswordChange, PasswordResetConfirm, PasswordResetRequest
from smartcompute.accounts.services import AccountError
from web.after_response import after_response
from web.access import PUBLIC, SIGNED_IN
from web.auth import current_principal
from web.problems import Problem
from web.replies import actor, client_address
from web.routes import Reply, operation
from web.runtime import db, web_runtime
from web.sign_in_limits import failed_credential

log = logging.getLogger("smartcompute.web")
passwords = Blueprint("passwords", __name__, url_prefix="/v1/auth")
RESET_ACCEPTED = "if an active user has this email, a reset token is on its way to it"


def _weak(error: AccountError) -> Problem:
    return Problem(422, str(error), kind="validation-error", errors=[{"field": "new_password", "message": str(error)}])


@operation(
    passwords,
    "POST",
    "/password",
    "changePassword",
    "Change your password (the current one required); your other sign-ins end",
    access=SIGNED_IN,
    body=PasswordChange,
    responses={204: Reply("Changed"), 403: "The current password is wrong, or not signed in with a JWT"},
)
def change_password(body: PasswordChange) -> None:
    principal, session = current_principal(), db()
    try:
        changed = accounts_passwords.change_password(
            session, principal.user_id, body.current_password, body.new_password, keep_session=principal.session_id
        )
    except AccountError as error:
        raise _weak(error) from None
    if not changed:
        failed_credential()
        raise Problem(403, "the current password is wrong", kind="wrong-password")
    audit.record(
        session,
        actor(),
        "auth.password_changed",
        account_id=principal.account_id,
        target_type="user",
        target_id=principal.user_id,
    )
    session.commit()


@operation(
    passwords,
    "POST",
    "/password-reset",
    "requestPasswordReset",
    "Mail a single-use reset token to the user with this email, if there is one",
    access=PUBLIC,
    body=PasswordResetRequest,
    responses={202: Reply("The same answer whether or not the email is a user's", Accepted)},
)
def request_reset(body: PasswordResetRequest) -> Accepted:
    """202 whether or not the email is a user's: the lookup and the mail happen after the response is sent, so
    neither the answer nor its timing tells which."""
    email = body.email
    runtime, who = web_runtime(), actor()
    lifetime = timedelta(minutes=runtime.settings.PASSWORD_RESET_MINUTES)
    after_response(lambda: _issue_reset(runtime.sessions, runtime.mail, email, lifetime, who))
    return Accepted(detail=RESET_ACCEPTED)


def _issue_reset(sessions, mail: MailSender | None, email: str, lifetime: timedelta, who: audit.Actor) -> None:
    if mail is None:
        log.info(
            "password reset requested, but no SMTP_URL is set to mail it: an operator can print a token with "
            "`smartcompute users reset-password EMAIL`",
            extra={"email": audit.submitted(email)},
        )
        return
    with sessions() as session:
        issued = accounts_passwords.start_reset(session, email, lifetime, who.client_address)
        if issued is None:
            return
        audit.record(
            session,
            who,
            "auth.password_reset_requested",
            account_id=issued.user.account_id,
            target_type="user",
            target_id=issued.user.id,
        )
        session.commit()
        mail.send(issued.user.email, "Reset your SmartCompute password", reset_message(issued))


def reset_message(issued: accounts_passwords.ResetToken) -> str:
    return (
        f"Someone asked to reset the password of {issued.user.email}. If it was not you, ignore this message.\n\n"
        f"Your reset token, valid once until {issued.expires_at:%Y-%m-%d %H:%M} UTC:\n\n    {issued.token}\n\n"
        "Set a new password with POST /v1/auth/password-reset/confirm and the body\n"
        '    {"token": "<the token>", "new_password": "<12 characters or more>"}\n'
    )


@operation(
    passwords,
    "POST",
    "/password-reset/confirm",
    "confirmPasswordReset",
    "Set a new password with a reset token; every sign-in of the user ends",
    access=PUBLIC,
    body=PasswordResetConfirm,
    responses={204: Reply("Set"), 400: "The token is unknown, used or expired"},
)
def confirm_reset(body: PasswordResetConfirm) -> None:
    """The token works once."""
    session = db()
    try:
        user = accounts_passwords.finish_reset(session, body.token, body.new_password)
    except AccountError as error:
        raise _weak(error) from None
    if user is None:
        failed_credential()
        raise Problem(400, "the reset token is unknown, used or expired", kind="invalid-token")
    audit.record(
        session,
        actor(user),
        "auth.password_reset",
        account_id=user.account_id,
        target_type="user",
        target_id=user.id,
        details={"client_address": client_address()},
    )
    session.commit()
