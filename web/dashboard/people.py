"""API keys (create with scopes, shown once; rotate; revoke) and members (invite, change role, remove), each
through the API operation that does the same, so the roles that may and the audit records are the API's."""

from __future__ import annotations

from typing import get_args

from flask import request
from werkzeug.wrappers import Response

from smartcompute.accounts.schemas import ApiKeyRequest, MemberRequest, MemberUpdate, RotateRequest, Scope
from web import account as account_api, api_keys as keys_api, invitations as invitations_api
from web.dashboard.pages import api, back, dashboard, page, principal
from web.routes import validated

SCOPES = get_args(Scope)
ROLES = ("viewer", "analyst", "owner")


def _keys_page(new_key=None, replaced=None) -> str:
    listed = api(keys_api.index)
    grantable = [scope for scope in SCOPES if principal().can(scope)]
    return page("keys.html", keys=listed.items, new_key=new_key, replaced=replaced, scopes=grantable)


@dashboard.get("/keys")
def keys() -> str:
    return _keys_page()


@dashboard.post("/keys")
def create_key() -> str:
    body = validated(
        ApiKeyRequest, {"name": request.form.get("name", ""), "scopes": request.form.getlist("scopes") or ["jobs:read"]}
    )
    return _keys_page(new_key=api(keys_api.create, body=body))


@dashboard.post("/keys/<key_id>/rotate")
def rotate_key(key_id: str) -> str:
    rotated = api(keys_api.rotate, key_id=key_id, body=RotateRequest())
    return _keys_page(new_key=rotated.new, replaced=rotated.old)


@dashboard.post("/keys/<key_id>/revoke")
def revoke_key(key_id: str) -> Response:
    api(keys_api.revoke, key_id=key_id)
    return back("dashboard.keys")


@dashboard.get("/members")
def members() -> str:
    listed = api(account_api.members, query=account_api.MemberSearch())
    invitations = api(invitations_api.open_invitations)
    return page(
        "members.html", members=listed.items, invitations=invitations.items, roles=ROLES, me=principal().user_id
    )


@dashboard.post("/members/invite")
def invite_member() -> Response:
    body = validated(
        MemberRequest, {"email": request.form.get("email", ""), "role": request.form.get("role", "viewer")}
    )
    api(invitations_api.invite, body=body)
    return back("dashboard.members")


@dashboard.post("/members/<user_id>/role")
def change_role(user_id: str) -> Response:
    api(
        account_api.update_member, user_id=user_id, body=validated(MemberUpdate, {"role": request.form.get("role", "")})
    )
    return back("dashboard.members")


@dashboard.post("/members/<user_id>/remove")
def remove_member(user_id: str) -> Response:
    """A member is disabled rather than deleted: their history and audit records keep naming them."""
    api(account_api.update_member, user_id=user_id, body=MemberUpdate(is_active=False))
    return back("dashboard.members")


@dashboard.post("/invitations/<invitation_id>/revoke")
def revoke_invitation(invitation_id: str) -> Response:
    api(invitations_api.revoke, invitation_id=invitation_id)
    return back("dashboard.members")
