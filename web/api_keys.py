"""Self-service API keys: create (shown once), list, revoke, rotate with a grace period."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response

from smartcompute.accounts import audit, keys
from smartcompute.accounts.schemas import ApiKeyRequest, RotateRequest
from smartcompute.accounts.services import AccountError
from web.auth import current_principal, requires
from web.bodies import read_json
from web.problems import Problem
from web.replies import actor, json_response, path_uuid
from web.runtime import db, web_runtime

api_keys = Blueprint("api_keys", __name__, url_prefix="/v1/api-keys")


def _new_key_view(key_id, key: str) -> dict:
    return {**keys.key_view(keys.get_key(db(), current_principal(), key_id)), "key": key}


@api_keys.post("")
@requires("keys:write")
def create():
    body = read_json(ApiKeyRequest)
    principal, session = current_principal(), db()
    plan = web_runtime().settings.plan_limits(principal.plan)
    try:
        new = keys.create_key(session, principal, plan, name=body.name, scopes=list(body.scopes),
                              expires_at=body.expires_at, rate_limit=body.rate_limit)
    except AccountError as error:
        raise Problem(422, str(error), kind="validation-error",
                      errors=[{"field": error.field or "(body)", "message": str(error)}]) from None
    except keys.TooManyKeys as error:
        raise Problem(409, str(error), kind="plan-limit-exceeded") from None
    audit.record(session, actor(), "api_key.created", account_id=principal.account_id, target_type="api_key",
                 target_id=new.key_id, details={"name": body.name, "scopes": list(body.scopes),
                                                "rate_limit": body.rate_limit})
    session.commit()
    return json_response(_new_key_view(new.key_id, new.key), 201,
                         {"Location": f"/v1/api-keys/{new.key_id}", "Cache-Control": "no-store"})


@api_keys.get("")
@requires("keys:read")
def index():
    return json_response({"items": [keys.key_view(key) for key in keys.list_keys(db(), current_principal())]})


@api_keys.delete("/<key_id>")
@requires("keys:write")
def revoke(key_id: str):
    principal, session = current_principal(), db()
    try:
        key = keys.revoke_key(session, principal, path_uuid(key_id, "API key"))
    except keys.KeyNotFound:
        raise Problem(404, "no such API key", kind="not-found") from None
    audit.record(session, actor(), "api_key.revoked", account_id=principal.account_id, target_type="api_key",
                 target_id=key.id, details={"name": key.name, "prefix": key.prefix})
    session.commit()
    return Response(status=204)


@api_keys.post("/<key_id>/rotate")
@requires("keys:write")
def rotate(key_id: str):
    body = read_json(RotateRequest)
    longest = web_runtime().settings.API_KEY_MAX_GRACE_SECONDS
    if body.grace_seconds > longest:
        message = f"must be at most {longest}"
        raise Problem(422, f"grace_seconds {message}", kind="validation-error",
                      errors=[{"field": "grace_seconds", "message": message}])
    principal, session = current_principal(), db()
    try:
        old, new = keys.rotate_key(session, principal, path_uuid(key_id, "API key"),
                                   timedelta(seconds=body.grace_seconds))
    except keys.KeyNotFound:
        raise Problem(404, "no such API key", kind="not-found") from None
    except keys.NotKeyHolder as error:
        raise Problem(403, str(error), kind="forbidden") from None
    except keys.KeyConflict as error:
        raise Problem(409, str(error), kind="key-conflict") from None
    audit.record(session, actor(), "api_key.rotated", account_id=principal.account_id, target_type="api_key",
                 target_id=old.id, details={"replacement": str(new.key_id), "grace_seconds": body.grace_seconds})
    session.commit()
    return json_response({"old": keys.key_view(old), "new": _new_key_view(new.key_id, new.key)}, 201,
                         {"Location": f"/v1/api-keys/{new.key_id}", "Cache-Control": "no-store"})
