"""The OpenAPI section for jobs, sign-in, payment webhooks and health."""
from __future__ import annotations

from smartcompute.jobs import schemas
from web.openapi_parts import AUTH_ERRORS, SECURED, Section, json_body, problem, request_body

JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


def core_section() -> Section:
    """Jobs, webhooks and health (sign-in is in the accounts section)."""
    list_params = [
        {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(schemas.Status.__args__)}},
        {"name": "type", "in": "query", "schema": {"type": "string", "enum": list(schemas.JobType.__args__)}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    ]
    paths = {
        "/v1/jobs": {
            "post": {
                "operationId": "submitJob", "summary": "Submit an analysis job", "security": SECURED,
                "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 255}}],
                "requestBody": request_body("JobRequest"),
                "callbacks": {"jobFinished": {"{$request.body#/callback_url}": {"post": {
                    "summary": "The job finished (sent when the job has a callback_url)",
                    "description": "Signed the Standard Webhooks way (webhook-id, webhook-timestamp, "
                                   "webhook-signature) with the secret from GET /v1/account/callback-secret.",
                    "requestBody": request_body("JobFinished"),
                    "responses": {"2XX": {"description": "Delivered; anything else is retried for about a day"}},
                }}}},
                "responses": {"202": json_body("Job", "Accepted; poll the Location", {"Location": "The job's URL", "Retry-After": "Seconds to wait before polling"}),
                              "422": problem("Schema or telemetry violation"), **AUTH_ERRORS,
                              "503": problem("Too much work is waiting for this priority, or the database or broker "
                                             "is unavailable; see Retry-After")},
            },
            "get": {
                "operationId": "listJobs", "summary": "List jobs, newest first", "security": SECURED,
                "parameters": list_params,
                "responses": {"200": json_body("JobList", "A page of jobs"), **AUTH_ERRORS},
            },
        },
        "/v1/jobs/{job_id}": {"get": {
            "operationId": "getJob", "summary": "Poll a job", "security": SECURED, "parameters": [JOB_ID],
            "responses": {"200": json_body("Job", "The job"), "404": problem("No such job"), **AUTH_ERRORS},
        }},
        "/v1/jobs/{job_id}/cancel": {"post": {
            "operationId": "cancelJob", "summary": "Cancel a queued or running job", "security": SECURED,
            "parameters": [JOB_ID],
            "responses": {"200": json_body("Job", "The canceled job"), "404": problem("No such job"),
                          "409": problem("The job already finished"), **AUTH_ERRORS},
        }},
        "/v1/jobs/{job_id}/callback/resend": {"post": {
            "operationId": "resendJobCallback", "security": SECURED, "parameters": [JOB_ID],
            "summary": "Send a finished job's callback again, with a fresh retry schedule",
            "responses": {"202": json_body("Job", "The callback is pending again"), "404": problem("No such job"),
                          "409": problem("The job has no callback_url, or has not finished"), **AUTH_ERRORS},
        }},
        "/v1/webhooks/payments/{provider}": {"post": {
            "operationId": "receivePaymentWebhook", "summary": "Payment provider webhook (signed)", "security": [],
            "parameters": [{"name": "provider", "in": "path", "required": True, "schema": {"type": "string", "enum": [
                "generic", "coinbase-commerce", "btcpay", "nowpayments", "standard-webhooks"]}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "Stored (or a repeat of a stored event)"},
                          "400": problem("Not a readable event"), "401": problem("Bad or missing signature"),
                          "413": problem("Body too large"),
                          "404": problem("Unknown provider")},
        }},
        "/health": {"get": {"operationId": "health", "summary": "The process is up", "security": [],
                            "responses": {"200": {"description": "Up"}}}},
        "/health/ready": {"get": {"operationId": "ready", "summary": "Database, broker and Redis reachable",
                                  "security": [], "responses": {"200": {"description": "Ready"},
                                                                "503": problem("A dependency is down")}}},
    }
    return Section(paths, request_models=[schemas.JobRequest, schemas.TokenRequest, schemas.JobFinished],
                   response_models=[schemas.Job, schemas.JobList, schemas.Token, schemas.Problem])
