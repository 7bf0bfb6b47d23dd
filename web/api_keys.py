"""Self-service API keys: create (shown once), list, revoke, rotate with a grace period."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Blueprint

from smartcompute.accounts import audit, keys
from smartcompute.accounts.schemas import ApiKey, ApiKeyList, ApiKeyRequest, NewApiKey, RotateRequest, RotatedApiKey
from smartcompute.accounts.services import AccountError
from web.access import scope
from web.auth import current_principal
from web.problems import Problem
from web.replies import actor, path_uuid
from web.routes import Answer, Reply, operation
from web.runtime import db, web_runtime

api_keys = Blueprint("api_keys", __name__, url_prefix="/v1/api-keys")
_NO_SUCH_KEY = "No such key"
_NEW_KEY = {"Location": "The new key's URL"}


def _new_key_view(key_id, key: str) -> NewApiKey:
    return NewApiKey(**keys.key_view(keys.get_key(db(), current_principal(), key_id)), key=key)


@operation(
    api_keys,
    "POST",
    "",
    "createApiKey",
    "Create an API key; the key is shown once",
    access=scope("keys:write"),
    body=ApiKeyRequest,
    responses={
        201: Reply("The new key", NewApiKey, _NEW_KEY),
        409: "The account has as many keys in use as its plan allows",
    },
)
def create(body: ApiKeyRequest) -> Answer:
    principal, session = current_principal(), db()
    plan = web_runtime().settings.plan_limits(principal.plan)
    try:
        new = keys.create_key(
            session,
            principal,
            plan,
            name=body.name,
            scopes=list(body.scopes),
            expires_at=body.expires_at,
            rate_limit=body.rate_limit,
        )
    except AccountError as error:
        raise Problem(
            422, str(error), kind="validation-error", errors=[{"field": error.field or "(body)", "message": str(error)}]
        ) from None
    except keys.TooManyKeys as error:
        raise Problem(409, str(error), kind="plan-limit-exceeded") from None
    audit.record(
        session,
        actor(),
        "api_key.created",
        account_id=principal.account_id,
        target_type="api_key",
        target_id=new.key_id,
        details={"name": body.name, "scopes": list(body.scopes), "rate_limit": body.rate_limit},
    )
    session.commit()
    return Answer(_new_key_view(new.key_id, new.key), {"Location": f"/v1/api-keys/{new.key_id}"})


@operation(
    api_keys,
    "GET",
    "",
    "listApiKeys",
    "Your API keys (an owner's: the account's)",
    access=scope("keys:read"),
    responses={200: Reply("Keys, newest first", ApiKeyList)},
)
def index() -> ApiKeyList:
    return ApiKeyList(items=[keys.key_view(key) for key in keys.list_keys(db(), current_principal())])


@operation(
    api_keys,
    "DELETE",
    "/<key_id>",
    "revokeApiKey",
    "Revoke a key at once",
    access=scope("keys:write"),
    path={"key_id": uuid.UUID},
    responses={204: Reply("Revoked"), 404: _NO_SUCH_KEY},
)
def revoke(key_id: str) -> None:
    principal, session = current_principal(), db()
    try:
        key = keys.revoke_key(session, principal, path_uuid(key_id, "API key"))
    except keys.KeyNotFound:
        raise Problem(404, "no such API key", kind="not-found") from None
    audit.record(
        session,
        actor(),
        "api_key.revoked",
        account_id=principal.account_id,
        target_type="api_key",
        target_id=key.id,
        details={"name": key.name, "prefix": key.prefix},
    )
    session.commit()


@operation(
    api_keys,
    "POST",
    "/<key_id>/rotate",
    "rotateApiKey",
    "Issue a replacement of your own key; the old one lives for grace_seconds more",
    access=scope("keys:write"),
    body=RotateRequest,
    path={"key_id": uuid.UUID},
    responses={
        201: Reply("The old key (now expiring) and the new one", RotatedApiKey, _NEW_KEY),
        403: "The credentials lack the scope, or the key is another user's",
        404: _NO_SUCH_KEY,
        409: "Revoked, expired or already rotated",
    },
)
def rotate(key_id: str, body: RotateRequest) -> Answer:
    longest = web_runtime().settings.API_KEY_MAX_GRACE_SECONDS
    if body.grace_seconds > longest:
        message = f"must be at most {longest}"
        raise Problem(
            422,
            f"grace_seconds {message}",
            kind="validation-error",
            errors=[{"field": "grace_seconds", "message": message}],
        )
    principal, session = current_principal(), db()
    try:
        old, new = keys.rotate_key(
            session, principal, path_uuid(key_id, "API key"), timedelta(seconds=body.grace_seconds)
        )
    except keys.KeyNotFound:
        raise Problem(404, "no such API key", kind="not-found") from None
    except keys.NotKeyHolder as error:
        raise Problem(403, str(error), kind="forbidden") from None
    except keys.KeyConflict as error:
        raise Problem(409, str(error), kind="key-conflict") from None
    audit.record(
        session,
        actor(),
        "api_key.rotated",
        account_id=principal.account_id,
        target_type="api_key",
        target_id=old.id,
        details={"replacement": str(new.key_id), "grace_seconds": body.grace_seconds},
    )
    session.commit()
    return Answer(
        RotatedApiKey(old=ApiKey(**keys.key_view(old)), new=_new_key_view(new.key_id, new.key)),
        {"Location": f"/v1/api-keys/{new.key_id}"},
    )
