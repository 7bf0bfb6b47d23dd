"""Members join by invitation: `POST /v1/account/members` invites an email (owners), `GET` and `DELETE
/v1/account/invitations[/{id}]` list and revoke the open ones, and `POST /v1/invitations/accept` makes the
member, with the password they choose. The invitation is mailed after the response (smartcompute/accounts/mail.py;
without SMTP_URL an operator prints a token with `smartcompute invitations issue`)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import Blueprint

from smartcompute.accounts import invitations as accounts_invitations
from smartcompute.accounts.mail import MailSender
from smartcompute.accounts.admin import user_view
from smartcompute.accounts.schemas import Invitation, InvitationAccept, InvitationList, Member, MemberRequest
from smartcompute.accounts.services import AccountError
from web.access import PUBLIC, scope
from web.after_response import after_response
from web.auth import current_principal
from web.problems import Problem
from web.replies import actor, path_uuid
from web.routes import Reply, operation
from web.runtime import db, web_runtime
from web.sign_in_limits import failed_credential

log = logging.getLogger("smartcompute.web")
invitations = Blueprint("invitations", __name__, url_prefix="/v1")


@operation(
    invitations,
    "POST",
    "/account/members",
    "addMember",
    "Invite an email to join with a role (owners); the person accepts with the mailed token",
    access=scope("members:write"),
    body=MemberRequest,
    responses={
        202: Reply("The same answer whether or not the email has a user elsewhere", Invitation),
        409: "The email is a member of this account already",
    },
)
def invite(body: MemberRequest) -> Invitation:
    """202 alike for every email but a member of this account's (409): who has a user elsewhere is not told."""
    principal, session, runtime = current_principal(), db(), web_runtime()
    try:
        new = accounts_invitations.invite(
            session,
            actor(),
            principal.account_id,
            email=body.email,
            role=body.role,
            lifetime=timedelta(days=runtime.settings.INVITATION_DAYS),
        )
    except accounts_invitations.AlreadyMember as error:
        raise Problem(409, str(error), kind="conflict") from None
    except AccountError as error:
        raise Problem(
            422, str(error), kind="validation-error", errors=[{"field": error.field or "email", "message": str(error)}]
        ) from None
    session.commit()
    view = Invitation(**accounts_invitations.invitation_view(new.invitation))
    after_response(lambda: _mail_invitation(runtime.mail, new))
    return view


def _mail_invitation(mail: MailSender | None, new: accounts_invitations.NewInvitation) -> None:
    if mail is None:
        log.info(
            "invitation made, but no SMTP_URL is set to mail it: an operator can print a token with "
            "`smartcompute invitations issue`",
            extra={"invitation_id": str(new.invitation.id)},
        )
        return
    mail.send(new.invitation.email, "You are invited to SmartCompute", accounts_invitations.invitation_message(new))


@operation(
    invitations,
    "GET",
    "/account/invitations",
    "listInvitations",
    "The account's open invitations (owners)",
    access=scope("members:read"),
    responses={200: Reply("Open invitations, newest first", InvitationList)},
)
def open_invitations() -> InvitationList:
    found = accounts_invitations.open_invitations(db(), current_principal().account_id)
    return InvitationList(items=[accounts_invitations.invitation_view(each) for each in found])


@operation(
    invitations,
    "DELETE",
    "/account/invitations/<invitation_id>",
    "revokeInvitation",
    "Revoke an open invitation (owners)",
    access=scope("members:write"),
    path={"invitation_id": uuid.UUID},
    responses={204: Reply("Revoked"), 404: "No such open invitation"},
)
def revoke(invitation_id: str) -> None:
    session = db()
    try:
        accounts_invitations.revoke(
            session, actor(), current_principal().account_id, path_uuid(invitation_id, "open invitation")
        )
    except accounts_invitations.InvalidInvitation:
        raise Problem(404, "no such open invitation", kind="not-found") from None
    session.commit()


@operation(
    invitations,
    "POST",
    "/invitations/accept",
    "acceptInvitation",
    "Join an account with an invitation's token and the password you choose",
    access=PUBLIC,
    body=InvitationAccept,
    responses={
        201: Reply("You, the new member", Member),
        400: "The token is unknown, used, revoked or expired",
        409: "This email has a user already",
    },
)
def accept(body: InvitationAccept) -> Member:
    session = db()
    try:
        user = accounts_invitations.accept(session, body.token, body.password, actor())
    except AccountError as error:
        raise Problem(
            422, str(error), kind="validation-error", errors=[{"field": "password", "message": str(error)}]
        ) from None
    except accounts_invitations.InvalidInvitation:
        failed_credential()
        raise Problem(400, "the invitation token is unknown, used, revoked or expired", kind="invalid-token") from None
    except accounts_invitations.EmailTaken as error:
        raise Problem(409, str(error), kind="conflict") from None
    session.commit()
    return Member(**user_view(user))
