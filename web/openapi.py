"""The OpenAPI 3.1 document, written from the operations the app registers (web/routes.py), and a docs page.

Nothing here describes an operation: each path, parameter, body, answer and security requirement comes from the
declaration its view runs with. What every operation of a kind may answer (bad input, credentials, rate limits,
what the edge refuses) is added here, by kind, so that no declaration has to remember it.
"""

from __future__ import annotations

import re
from typing import Any
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, render_template
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

import smartcompute
from smartcompute import jsoncodec
from smartcompute.jobs.schemas import Problem
from web.routes import JSON, Callback, Operation, Reply, operation_of

openapi = Blueprint("openapi", __name__, template_folder="templates")

REF = "#/components/schemas/{model}"
_EXTENSION = "smartcompute.openapi"
_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
# What the edge (the shipped nginx, deploy/nginx) answers before any operation sees the request.
_REQUEST_ERRORS = {
    408: "The request did not arrive in time",
    414: "The request line (path and query) is longer than this API accepts",
    431: "Too many header fields, or one too large",
}
# What reading a declared body (web/bodies.py) or declared parameters (web/routes.py) refuses.
_BODY_ERRORS = {400: "Malformed JSON", 413: "Body too large", 415: "Not application/json", 422: "Schema violation"}
_PARAMETER_ERRORS = {422: "Bad query or header"}
_RATE_LIMITED = {429: "Rate limit exceeded; see Retry-After"}


@openapi.get("/v1/openapi.json")
def document():
    return Response(jsoncodec.dumps_bytes(openapi_document(current_app)), mimetype="application/json")


@openapi.get("/docs")
def docs():
    return render_template("docs.html", spec=openapi_document(current_app))


def openapi_document(app: Flask) -> dict[str, Any]:
    """Built on first use, from the app's routes as registered (a route's decorators, the rate limits' included)."""
    if _EXTENSION not in app.extensions:
        app.extensions[_EXTENSION] = _build(list(_operations(app)))
    return app.extensions[_EXTENSION]


def _operations(app: Flask) -> Iterator[tuple[str, str, Operation]]:
    for rule in app.url_map.iter_rules():
        described = operation_of(app.view_functions[rule.endpoint])
        if described is not None:
            [method] = rule.methods - {"HEAD", "OPTIONS"}
            yield _VARIABLE.sub(r"{\1}", rule.rule), method.lower(), described


def _build(operations: list[tuple[str, str, Operation]]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for path, method, described in operations:
        paths.setdefault(path, {})[method] = _operation(described, schemas)
    _, definitions = models_json_schema(_models(op for _, _, op in operations), ref_template=REF)
    schemas.update(definitions["$defs"])
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SmartCompute API",
            "version": smartcompute.__version__,
            "description": "Submit host telemetry for anomaly, threat and performance analysis; poll for results.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
    }


def _models(operations: Iterator[Operation]) -> list[tuple[type[BaseModel], str]]:
    models: dict[tuple[type[BaseModel], str], None] = {(Problem, "serialization"): None}
    for described in operations:
        if isinstance(described.body, type):
            models[(described.body, "validation")] = None
        for callback in described.callbacks:
            models[(callback.body, "validation")] = None
        models.update(
            ((reply.model, "serialization"), None)
            for reply in described.responses.values()
            if isinstance(reply, Reply) and reply.model is not None
        )
    return list(models)


def _operation(described: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    built: dict[str, Any] = {
        "operationId": described.operation_id,
        "summary": described.summary,
        "security": list(described.access.security),
    }
    if described.access.description:
        built["description"] = described.access.description
    parameters = [
        *_path_parameters(described),
        *_parameters(described.query, "query", schemas),
        *_parameters(described.headers, "header", schemas),
    ]
    if parameters:
        built["parameters"] = parameters
    if described.body is not None:
        schema = described.body if isinstance(described.body, dict) else _ref(described.body)
        built["requestBody"] = {
            "required": described.body_required,
            "content": {"application/json": {"schema": schema}},
        }
    if described.callbacks:
        built["callbacks"] = {callback.name: _callback(callback) for callback in described.callbacks}
    built["responses"] = _responses(described)
    return built


def _responses(described: Operation) -> dict[str, Any]:
    answers: dict[int, Reply | str] = dict(_REQUEST_ERRORS)
    if isinstance(described.body, type):
        answers.update(_BODY_ERRORS)
    if described.query is not None or described.headers is not None:
        answers.update(_PARAMETER_ERRORS)
    if described.rate_limited:
        answers.update(_RATE_LIMITED)
    answers.update(described.access.errors)
    answers.update(described.responses)
    return {str(status): _response(answers[status]) for status in sorted(answers)}


def _response(answer: Reply | str) -> dict[str, Any]:
    if isinstance(answer, str):
        return {"description": answer, "content": {"application/problem+json": {"schema": _ref(Problem)}}}
    response: dict[str, Any] = {"description": answer.description}
    if answer.headers:
        response["headers"] = {
            name: {"schema": {"type": "string"}, "description": meaning} for name, meaning in answer.headers.items()
        }
    if answer.media_type != JSON:  # a stream: text, each item of which the model describes
        response["content"] = {answer.media_type: {"schema": {"type": "string"}, "x-item-schema": _ref(answer.model)}}
    elif answer.model is not None:
        response["content"] = {JSON: {"schema": _ref(answer.model)}}
    return response


def _callback(callback: Callback) -> dict[str, Any]:
    return {
        callback.expression: {
            "post": {
                "summary": callback.summary,
                "description": callback.description,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(callback.body)}}},
                "responses": {status: {"description": meaning} for status, meaning in callback.responses.items()},
            }
        }
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _path_parameters(described: Operation) -> Iterator[dict[str, Any]]:
    for name, kind in described.path.items():
        yield {"name": name, "in": "path", "required": True, "schema": _plain(TypeAdapter(kind).json_schema())}


def _parameters(model: type[BaseModel] | None, location: str, schemas: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One parameter per field (by its alias: a header's name), its schema without pydantic's null branch: a
    parameter that is absent is simply not sent."""
    if model is None:
        return
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.get("$defs", {}))
    required = set(schema.get("required", ()))
    for name, field in schema["properties"].items():
        parameter = {"name": name, "in": location, "required": name in required, "schema": _plain(field)}
        if "description" in parameter["schema"]:
            parameter["description"] = parameter["schema"].pop("description")
        yield parameter


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    schema = {key: value for key, value in schema.items() if key != "title"}
    branches = [branch for branch in schema.pop("anyOf", []) if branch != {"type": "null"}]
    if len(branches) == 1:
        schema = {**branches[0], **schema}
    elif branches:
        schema["anyOf"] = branches
    if schema.get("default", ...) is None:
        del schema["default"]
    return schema
