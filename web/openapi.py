"""The OpenAPI 3.1 document, built from the same pydantic models that validate requests, and a docs page."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, json, render_template
from pydantic.json_schema import models_json_schema

import smartcompute
from smartcompute.jobs import schemas

openapi = Blueprint("openapi", __name__, template_folder="templates")
_REF = "#/components/schemas/{model}"
_SECURED = [{"ApiKey": []}, {"Bearer": []}]


def _problem(description: str) -> dict:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}}}


def _json_body(model: str, description: str, headers: dict | None = None) -> dict:
    response = {"description": description,
                "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}}}
    if headers:
        response["headers"] = {name: {"schema": {"type": "string"}, "description": text} for name, text in headers.items()}
    return response


_AUTH_ERRORS = {"401": _problem("No or invalid credentials"), "403": _problem("The credentials lack the scope"),
                "503": _problem("The database or broker is unavailable")}
_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


def _paths() -> dict[str, Any]:
    submit_errors = {"400": _problem("Malformed JSON"), "413": _problem("Body too large"),
                     "415": _problem("Not application/json"), "422": _problem("Schema or telemetry violation")}
    list_params = [
        {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(schemas.Status.__args__)}},
        {"name": "type", "in": "query", "schema": {"type": "string", "enum": list(schemas.JobType.__args__)}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    ]
    return {
        "/v1/jobs": {
            "post": {
                "operationId": "submitJob", "summary": "Submit an analysis job", "security": _SECURED,
                "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 255}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": _REF.format(model="JobRequest")}}}},
                "responses": {"202": _json_body("Job", "Accepted; poll the Location", {"Location": "The job's URL", "Retry-After": "Seconds to wait before polling"}),
                              **submit_errors, **_AUTH_ERRORS},
            },
            "get": {
                "operationId": "listJobs", "summary": "List jobs, newest first", "security": _SECURED,
                "parameters": list_params,
                "responses": {"200": _json_body("JobList", "A page of jobs"), "422": _problem("Bad query"), **_AUTH_ERRORS},
            },
        },
        "/v1/jobs/{job_id}": {"get": {
            "operationId": "getJob", "summary": "Poll a job", "security": _SECURED, "parameters": [_JOB_ID],
            "responses": {"200": _json_body("Job", "The job"), "404": _problem("No such job"), **_AUTH_ERRORS},
        }},
        "/v1/jobs/{job_id}/cancel": {"post": {
            "operationId": "cancelJob", "summary": "Cancel a queued or running job", "security": _SECURED,
            "parameters": [_JOB_ID],
            "responses": {"200": _json_body("Job", "The canceled job"), "404": _problem("No such job"),
                          "409": _problem("The job already finished"), **_AUTH_ERRORS},
        }},
        "/v1/auth/token": {"post": {
            "operationId": "issueToken", "summary": "Exchange email and password for a JWT", "security": [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": _REF.format(model="TokenRequest")}}}},
            "responses": {"200": _json_body("Token", "An access token"), "401": _problem("Wrong email or password"),
                          "422": _problem("Schema violation")},
        }},
        "/v1/webhooks/payments/{provider}": {"post": {
            "operationId": "receivePaymentWebhook", "summary": "Payment provider webhook (signed)", "security": [],
            "parameters": [{"name": "provider", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "Stored (or a repeat of a stored event)"},
                          "400": _problem("Not a readable event"), "401": _problem("Bad or missing signature"),
                          "404": _problem("Unknown provider")},
        }},
        "/health": {"get": {"operationId": "health", "summary": "The process is up", "security": [],
                            "responses": {"200": {"description": "Up"}}}},
        "/health/ready": {"get": {"operationId": "ready", "summary": "Database, broker and Redis reachable",
                                  "security": [], "responses": {"200": {"description": "Ready"},
                                                                "503": _problem("A dependency is down")}}},
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    models = [(schemas.JobRequest, "validation"), (schemas.TokenRequest, "validation"), (schemas.Job, "serialization"),
              (schemas.JobList, "serialization"), (schemas.Token, "serialization"), (schemas.Problem, "serialization")]
    _, definitions = models_json_schema(models, ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "SmartCompute API", "version": smartcompute.__version__,
                 "description": "Submit host telemetry for anomaly, threat and performance analysis; poll for results."},
        "servers": [{"url": "/"}],
        "paths": _paths(),
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
