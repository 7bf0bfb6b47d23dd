"""The OpenAPI section for sign-in, API keys, the account (members, audit log) and the staff admin API."""
from __future__ import annotations

from smartcompute.accounts import schemas
from smartcompute.jobs import schemas as job_schemas
from web.openapi_parts import AUTH_ERRORS, SECURED, Section, json_body, needs_scope, problem, request_body

BEARER_ONLY = [{"Bearer": []}]
RATE_LIMITED = {"429": problem("Rate limit exceeded; see Retry-After")}


def _path_id(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


def _query(name: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _paging(default: int) -> list[dict]:
    return [_query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": default})]


def _op(operation_id: str, summary: str, responses: dict, *, security=SECURED, body: str | None = None,
        parameters: list | None = None) -> dict:
    operation = {"operationId": operation_id, "summary": summary, "security": security,
                 "responses": {**responses, **RATE_LIMITED}}
    if body:
        operation["requestBody"] = request_body(body)
    if parameters:
        operation["parameters"] = parameters
    return operation


def _auth_paths() -> dict:
    no_content = {"204": {"description": "Signed out"}}
    return {
        "/v1/auth/token": {"post": _op(
            "issueToken", "Exchange email and password for an access and a refresh token",
            {"200": json_body("TokenPair", "Tokens"), "401": problem("Wrong email or password")},
            security=[], body="TokenRequest")},
        "/v1/auth/refresh": {"post": _op(
            "refreshToken", "Rotate a refresh token (each is usable once; reuse revokes the sign-in)",
            {"200": json_body("TokenPair", "New tokens"), "401": problem("Invalid, expired, revoked or reused")},
            security=[], body="RefreshRequest")},
        "/v1/auth/logout": {"post": {**_op(
            "logout", "End the sign-in of this access token (or of the refresh token in the body)",
            {**no_content, **AUTH_ERRORS}, security=BEARER_ONLY + [{}]),
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/LogoutRequest"}}}}}},
        "/v1/auth/password": {"post": _op(
            "changePassword", "Change your password (the current one required); your other sign-ins end",
            {**no_content, **AUTH_ERRORS, "403": problem("The current password is wrong, or not signed in with a JWT")},
            security=BEARER_ONLY, body="PasswordChange")},
        "/v1/auth/password-reset": {"post": _op(
            "requestPasswordReset", "Mail a single-use reset token to the user with this email, if there is one",
            {"202": json_body("Accepted", "The same answer whether or not the email is a user's")},
            security=[], body="PasswordResetRequest")},
        "/v1/auth/password-reset/confirm": {"post": _op(
            "confirmPasswordReset", "Set a new password with a reset token; every sign-in of the user ends",
            {**no_content, "400": problem("The token is unknown, used or expired")},
            security=[], body="PasswordResetConfirm")},
    }


def _key_paths() -> dict:
    key_id = _path_id("key_id")
    return {
        "/v1/api-keys": {
            "post": _op("createApiKey", "Create an API key; the key is shown once",
                        {"201": json_body("NewApiKey", "The new key"),
                         "409": problem("The account has as many keys in use as its plan allows"), **AUTH_ERRORS},
                        body="ApiKeyRequest"),
            "get": _op("listApiKeys", "Your API keys (an owner's: the account's)",
                       {"200": json_body("ApiKeyList", "Keys, newest first"), **AUTH_ERRORS}),
        },
        "/v1/api-keys/{key_id}": {"delete": _op(
            "revokeApiKey", "Revoke a key at once", {"204": {"description": "Revoked"},
                                                     "404": problem("No such key"), **AUTH_ERRORS},
            parameters=[key_id])},
        "/v1/api-keys/{key_id}/rotate": {"post": _op(
            "rotateApiKey", "Issue a replacement of your own key; the old one lives for grace_seconds more",
            {"201": json_body("RotatedApiKey", "The old key (now expiring) and the new one"),
             "404": problem("No such key"), "409": problem("Revoked, expired or already rotated"),
             **AUTH_ERRORS}, body="RotateRequest", parameters=[key_id])},
    }


def _account_paths() -> dict:
    audit_params = [*_paging(50), _query("action", {"type": "string", "maxLength": 60}),
                    _query("cursor", {"type": "string"})]
    return {
        "/v1/account": {"get": _op("getAccount", "Your account: plan, limits, usage, your role",
                                   {"200": json_body("AccountInfo", "The account"), **AUTH_ERRORS})},
        "/v1/account/members": {
            "get": _op("listMembers", "The account's members (owners)",
                       {"200": json_body("MemberList", "Members"), **AUTH_ERRORS},
                       parameters=[*_paging(100), _query("q", {"type": "string", "maxLength": 320})]),
            "post": _op("addMember", "Invite an email to join with a role (owners); the person accepts with the "
                        "mailed token", {"202": json_body("Invitation", "The same answer whether or not the email "
                                                          "has a user elsewhere"),
                                         "409": problem("The email is a member of this account already"),
                                         **AUTH_ERRORS}, body="MemberRequest"),
        },
        "/v1/account/invitations": {"get": _op(
            "listInvitations", "The account's open invitations (owners)",
            {"200": json_body("InvitationList", "Open invitations, newest first"), **AUTH_ERRORS})},
        "/v1/account/invitations/{invitation_id}": {"delete": _op(
            "revokeInvitation", "Revoke an open invitation (owners)",
            {"204": {"description": "Revoked"}, "404": problem("No such open invitation"), **AUTH_ERRORS},
            parameters=[_path_id("invitation_id")])},
        "/v1/invitations/accept": {"post": _op(
            "acceptInvitation", "Join an account with an invitation's token and the password you choose",
            {"201": json_body("Member", "You, the new member"),
             "400": problem("The token is unknown, used, revoked or expired"),
             "409": problem("This email has a user already")}, security=[], body="InvitationAccept")},
        "/v1/account/members/{user_id}": {"patch": _op(
            "updateMember", "Change a member's role or enable/disable them (owners)",
            {"200": json_body("Member", "The member"), "404": problem("No such member"),
             "409": problem("Would leave no active owner"), **AUTH_ERRORS},
            body="MemberUpdate", parameters=[_path_id("user_id")])},
        "/v1/account/callback-secret": {"get": _op(
            "getCallbackSecret", "The secret that signs your jobs' callbacks (made on first use)",
            {"200": json_body("CallbackSecret", "The secret"), **AUTH_ERRORS})},
        "/v1/account/callback-secret/rotate": {"post": {**_op(
            "rotateCallbackSecret", "Replace the callback secret; callbacks are signed with the new one at once",
            {"200": json_body("CallbackSecret", "The new secret"), **AUTH_ERRORS}),
            **needs_scope("callbacks:write", "account owners")}},
        "/v1/account/audit-events": {"get": _op(
            "listAuditEvents", "The account's audit log, newest first (owners)",
            {"200": json_body("AuditEventList", "Events"), **AUTH_ERRORS},
            parameters=audit_params)},
    }


def _admin_paths() -> dict:
    account_filter = _query("account_id", {"type": "string", "format": "uuid"})
    search = [*_paging(50), _query("q", {"type": "string", "maxLength": 320})]
    return {
        "/v1/admin/accounts": {"get": _op("adminListAccounts", "Search accounts (staff)",
                                          {"200": json_body("AccountList", "Accounts"),
                                           **AUTH_ERRORS}, security=BEARER_ONLY, parameters=search)},
        "/v1/admin/accounts/{account_id}": {"patch": _op(
            "adminUpdateAccount", "Change an account's plan (staff)",
            {"200": json_body("AccountSummary", "The account"), "404": problem("No such account"),
             **AUTH_ERRORS}, security=BEARER_ONLY, body="AccountUpdate", parameters=[_path_id("account_id")])},
        "/v1/admin/users": {"get": _op("adminListUsers", "Search users (staff)",
                                       {"200": json_body("MemberList", "Users"),
                                        **AUTH_ERRORS}, security=BEARER_ONLY, parameters=[*search, account_filter])},
        "/v1/admin/users/{user_id}": {"patch": _op(
            "adminUpdateUser", "Disable/enable a user or change their role (staff)",
            {"200": json_body("Member", "The user"), "404": problem("No such user"),
             "409": problem("Would leave no active owner"), **AUTH_ERRORS},
            security=BEARER_ONLY, body="MemberUpdate", parameters=[_path_id("user_id")])},
        "/v1/admin/audit-events": {"get": _op(
            "adminListAuditEvents", "The whole audit log (staff)",
            {"200": json_body("AuditEventList", "Events"), **AUTH_ERRORS},
            security=BEARER_ONLY, parameters=[*_paging(50), account_filter, _query("cursor", {"type": "string"}),
                                              _query("action", {"type": "string", "maxLength": 60})])},
    }


def accounts_section() -> Section:
    """Sign-in, API keys, the account and the admin API."""
    paths = {**_auth_paths(), **_key_paths(), **_account_paths(), **_admin_paths()}
    requests = [job_schemas.TokenRequest, schemas.RefreshRequest, schemas.LogoutRequest, schemas.PasswordChange,
                schemas.PasswordResetRequest, schemas.PasswordResetConfirm, schemas.InvitationAccept,
                schemas.ApiKeyRequest,
                schemas.RotateRequest, schemas.MemberRequest, schemas.MemberUpdate, schemas.AccountUpdate]
    responses = [schemas.TokenPair, schemas.Accepted, schemas.NewApiKey, schemas.ApiKeyList, schemas.RotatedApiKey,
                 schemas.AccountInfo, schemas.Member, schemas.MemberList, schemas.Invitation,
                 schemas.InvitationList, schemas.AccountList,
                 schemas.AccountSummary, schemas.AuditEventList, job_schemas.CallbackSecret]
    return Section(paths, request_models=requests, response_models=responses)
