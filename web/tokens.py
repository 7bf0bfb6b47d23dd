"""`POST /v1/auth/token`: email and password in, a short-lived JWT access token out."""
from __future__ import annotations

from flask import Blueprint, Response, json

from smartcompute.accounts.services import authenticate_password
from smartcompute.jobs.schemas import TokenRequest
from web.auth import issue_access_token
from web.bodies import read_json
from web.problems import Problem
from web.runtime import db, web_runtime

tokens = Blueprint("tokens", __name__, url_prefix="/v1/auth")


@tokens.post("/token")
def issue_token():
    credentials = read_json(TokenRequest)
    user_id = authenticate_password(db(), credentials.email, credentials.password)
    if user_id is None:
        # The same answer whether the email exists or not.
        raise Problem(401, "the email or password is wrong", kind="invalid-credentials")
    body = {
        "access_token": issue_access_token(user_id), "token_type": "Bearer",
        "expires_in": web_runtime().settings.JWT_ACCESS_TOKEN_MINUTES * 60,
    }
    return Response(json.dumps(body), mimetype="application/json", headers={"Cache-Control": "no-store"})
