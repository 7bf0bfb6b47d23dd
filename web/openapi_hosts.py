"""The OpenAPI section for hosts."""
from __future__ import annotations

from smartcompute.hosts import schemas
from web.openapi_parts import AUTH_ERRORS, SECURED, Section, json_body, problem


def hosts_section() -> Section:
    paths = {
        "/v1/hosts": {"get": {
            "operationId": "listHosts", "summary": "List the account's hosts by name", "security": SECURED,
            "parameters": [
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
                {"name": "cursor", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": json_body("HostList", "A page of hosts"), **AUTH_ERRORS},
        }},
        "/v1/hosts/{name}": {"get": {
            "operationId": "getHost", "summary": "A host, with its open incidents", "security": SECURED,
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255}}],
            "responses": {"200": json_body("Host", "The host"), "404": problem("No such host"), **AUTH_ERRORS},
        }},
    }
    return Section(paths, response_models=[schemas.Host, schemas.HostList])
