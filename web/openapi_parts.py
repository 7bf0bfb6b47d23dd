"""Building blocks for the OpenAPI document: references, problem responses and one section per area.

Each area of the API (jobs, accounts, billing...) describes its paths in a `*_section()` function returning
its paths and the pydantic models they reference; `web/openapi.py` merges the sections.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


REF = "#/components/schemas/{model}"
SECURED = [{"ApiKey": []}, {"Bearer": []}]


def needs_scope(scope: str, holders: str) -> dict:
    """An operation's security naming the scope it needs (OpenAPI 3.1 lets API-key and bearer schemes list
    such roles), and a description saying who holds it, for readers of the docs page."""
    return {"security": [{"ApiKey": [scope]}, {"Bearer": [scope]}],
            "description": f"Needs the `{scope}` scope ({holders})."}


@dataclass
class Section:
    paths: dict[str, Any]
    request_models: list[type[BaseModel]] = field(default_factory=list)
    response_models: list[type[BaseModel]] = field(default_factory=list)


def problem(description: str) -> dict:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}}


def json_body(model: str, description: str, headers: dict | None = None) -> dict:
    response = {"description": description,
                "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}}}
    if headers:
        response["headers"] = {name: {"schema": {"type": "string"}, "description": text} for name, text in headers.items()}
    return response


def request_body(model: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}}}


AUTH_ERRORS = {"401": problem("No or invalid credentials"), "403": problem("The credentials lack the scope"),
               "429": problem("Rate limit or quota exceeded; see Retry-After"),
               "503": problem("The database or broker is unavailable")}


# What any operation answers for bad input, by its shape: a JSON body read by `web.bodies.read_json`, query
# parameters checked by `web.replies` and the views, and a request line or headers too large for the server.
# Added to every such operation (an operation's own, more specific description of a status is kept), so that
# no section has to remember them.
BODY_ERRORS = {"400": problem("Malformed JSON"), "413": problem("Body too large"),
               "415": problem("Not application/json"), "422": problem("Schema violation")}
QUERY_ERRORS = {"422": problem("Bad query")}
# What the edge (the shipped nginx, deploy/nginx) answers before any operation sees the request, so for every one.
REQUEST_ERRORS = {"408": problem("The request did not arrive in time"),
                  "414": problem("The request line (path and query) is longer than this API accepts"),
                  "431": problem("Too many header fields, or one too large")}


def with_input_errors(paths: dict[str, Any]) -> dict[str, Any]:
    for operations in paths.values():
        for operation in operations.values():
            errors = dict(REQUEST_ERRORS)
            if _reads_a_model(operation):
                errors.update(BODY_ERRORS)
            if any(parameter["in"] == "query" for parameter in operation.get("parameters", [])):
                errors.update(QUERY_ERRORS)
            responses = operation["responses"]
            responses.update((status, answer) for status, answer in errors.items() if status not in responses)
    return paths


def _reads_a_model(operation: dict[str, Any]) -> bool:
    """A JSON body checked against one of our models (a webhook's body is the provider's, read as it comes)."""
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    return "$ref" in body.get("schema", {})
