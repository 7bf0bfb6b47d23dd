"""Members join by invitation: `POST /v1/account/members` invites an email (owners), `GET` and `DELETE
/v1/account/invitations[/{id}]` list and revoke the open ones, and `POST /v1/invitations/accept` makes the
member, with the password they choose. The invitation is mailed after the response (smartcompute/accounts/mail.py;
without SMTP_URL an operator prints a token with `smartcompute invitations issue`)."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import Blueprint, Response

from smartcompute.accounts import audit, invitations as accounts_invitations
from smartcompute.accounts.mail import MailSender
from smartcompute.accounts.admin import user_view
from smartcompute.accounts.schemas import InvitationAccept, MemberRequest
from smartcompute.accounts.services import AccountError
from web.after_response import after_response
from web.auth import current_principal, requires
from web.bodies import read_json
from web.problems import Problem
from web.replies import actor, json_response, path_uuid
from web.runtime import db, web_runtime
from web.sign_in_limits import failed_credential

log = logging.getLogger("smartcompute.web")
invitations = Blueprint("invitations", __name__, url_prefix="/v1")


@invitations.post("/account/members")
@requires("members:write")
def invite():
    """202 alike for every email but a member of this account's (409): who has a user elsewhere is not told."""
    body = read_json(MemberRequest)
    principal, session, runtime = current_principal(), db(), web_runtime()
    try:
        new = accounts_invitations.invite(session, actor(), principal.account_id, email=body.email, role=body.role,
                                          lifetime=timedelta(days=runtime.settings.INVITATION_DAYS))
    except accounts_invitations.AlreadyMember as error:
        raise Problem(409, str(error), kind="conflict") from None
    except AccountError as error:
        raise Problem(422, str(error), kind="validation-error",
                      errors=[{"field": error.field or "email", "message": str(error)}]) from None
    session.commit()
    view = accounts_invitations.invitation_view(new.invitation)
    after_response(lambda: _mail_invitation(runtime.mail, new))
    return json_response(view, 202)


def _mail_invitation(mail: MailSender | None, new: accounts_invitations.NewInvitation) -> None:
    if mail is None:
        log.info("invitation made, but no SMTP_URL is set to mail it: an operator can print a token with "
                 "`smartcompute invitations issue`", extra={"invitation_id": str(new.invitation.id)})
        return
    mail.send(new.invitation.email, "You are invited to SmartCompute", accounts_invitations.invitation_message(new))


@invitations.get("/account/invitations")
@requires("members:read")
def open_invitations():
    found = accounts_invitations.open_invitations(db(), current_principal().account_id)
    return json_response({"items": [accounts_invitations.invitation_view(each) for each in found]})


@invitations.delete("/account/invitations/<invitation_id>")
@requires("members:write")
def revoke(invitation_id: str):
    session = db()
    try:
        accounts_invitations.revoke(session, actor(), current_principal().account_id,
                                    path_uuid(invitation_id, "open invitation"))
    except accounts_invitations.InvalidInvitation:
        raise Problem(404, "no such open invitation", kind="not-found") from None
    session.commit()
    return Response(status=204)


@invitations.post("/invitations/accept")
def accept():
    body = read_json(InvitationAccept)
    session = db()
    try:
        user = accounts_invitations.accept(session, body.token, body.password, actor())
    except AccountError as error:
        raise Problem(422, str(error), kind="validation-error",
                      errors=[{"field": "password", "message": str(error)}]) from None
    except accounts_invitations.InvalidInvitation:
        failed_credential()
        raise Problem(400, "the invitation token is unknown, used, revoked or expired", kind="invalid-token") from None
    except accounts_invitations.EmailTaken as error:
        raise Problem(409, str(error), kind="conflict") from None
    session.commit()
    return json_response(user_view(user), 201)
