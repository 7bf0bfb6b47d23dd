"""The OpenAPI 3.1 document, built from the same pydantic models that validate requests, and a docs page."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, json, render_template
from pydantic.json_schema import models_json_schema

import smartcompute
from web.openapi_accounts import accounts_section
from web.openapi_billing import billing_section
from web.openapi_core import core_section
from web.openapi_hosts import hosts_section
from web.openapi_parts import REF, Section, with_input_errors

openapi = Blueprint("openapi", __name__, template_folder="templates")


def _sections() -> list[Section]:
    return [core_section(), hosts_section(), accounts_section(), billing_section()]


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    sections = _sections()
    paths: dict[str, Any] = {}
    models = []
    for section in sections:
        paths.update(section.paths)
        models += [(model, "validation") for model in section.request_models]
        models += [(model, "serialization") for model in section.response_models]
    _, definitions = models_json_schema(models, ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "SmartCompute API", "version": smartcompute.__version__,
                 "description": "Submit host telemetry for anomaly, threat and performance analysis; poll for results."},
        "servers": [{"url": "/"}],
        "paths": with_input_errors(paths),
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                                "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


@openapi.get("/v1/openapi.json")
def document():
    return Response(json.dumps(openapi_document()), mimetype="application/json")


@openapi.get("/docs")
def docs():
    return render_template("docs.html", spec=openapi_document())
