"""Each API operation declared once: its route, who may call it, the models it reads and the models it answers.

`operation(...)` registers a view on its blueprint and wraps it: access is checked first, then the body, query
and header models it declares are read and validated (RFC 9457 problems otherwise) and passed to it, and what it
returns must be an instance of the model declared for its success status, which becomes the JSON response. The
OpenAPI document (web/openapi.py) is written from the same declarations, so the two cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar
from collections.abc import Callable, Mapping

import orjson
from flask import Blueprint, Response, request
from pydantic import BaseModel, ValidationError

from smartcompute import jsoncodec
from web.access import Access
from web.bodies import read_json
from web.problems import Problem, field_errors

Model = TypeVar("Model", bound=BaseModel)
_PATH_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
JSON = "application/json"


@dataclass(frozen=True)
class Reply:
    """A successful answer: what it means, the model of its JSON body (none: an empty body) and the headers it
    may carry, by name and meaning. A `media_type` other than JSON is a body the view writes itself, as the
    Response it returns (server-sent events); `model` then describes each item of it."""

    description: str
    model: type[BaseModel] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    media_type: str = JSON


@dataclass(frozen=True)
class Answer:
    """What a view returns when its model alone does not say it all: the headers it sends, and members whose
    JSON is already written (a stored result, sent as PostgreSQL wrote it rather than parsed and written again)."""

    body: BaseModel | None
    headers: Mapping[str, str] = field(default_factory=dict)
    json_members: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Callback:
    """A request the API makes to the client (OpenAPI's callbacks), such as a job's finish notification."""

    name: str
    expression: str
    summary: str
    description: str
    body: type[BaseModel]
    responses: Mapping[str, str]


@dataclass(frozen=True)
class Operation:
    operation_id: str
    summary: str
    access: Access
    responses: Mapping[int, Reply | str]  # a string: a problem+json answer, described
    body: type[BaseModel] | dict | None = None  # a dict: a schema the view reads itself (a provider's event)
    body_required: bool = True
    query: type[BaseModel] | None = None
    headers: type[BaseModel] | None = None  # fields aliased to the header names
    path: Mapping[str, Any] = field(default_factory=dict)  # each path variable's type
    callbacks: tuple[Callback, ...] = ()
    rate_limited: bool = True

    def __post_init__(self) -> None:
        if len([reply for reply in self.responses.values() if isinstance(reply, Reply)]) != 1:
            raise TypeError(f"{self.operation_id}: declare exactly one successful answer (a Reply)")
        if self.headers is not None and not all(each.alias for each in self.headers.model_fields.values()):
            raise TypeError(f"{self.operation_id}: alias each header field to the header's name")

    @property
    def success(self) -> tuple[int, Reply]:
        return next((status, reply) for status, reply in self.responses.items() if isinstance(reply, Reply))


def operation(
    blueprint: Blueprint,
    method: str,
    rule: str,
    operation_id: str,
    summary: str,
    *,
    access: Access,
    responses: Mapping[int, Reply | str],
    **declared: Any,
) -> Callable:
    """Register the decorated view for `method rule` on `blueprint`, as the operation described (see Operation)."""
    described = Operation(operation_id, summary, access, responses, **declared)
    if set(_PATH_VARIABLE.findall(rule)) != set(described.path):
        raise TypeError(f"{operation_id}: declare the type of each path variable of {rule!r}, and only those")

    def register(view: Callable) -> Callable:
        @wraps(view)
        def answered(**path_values: Any) -> Response:
            described.access.check()
            given = {**path_values, **_read(described)}
            return _respond(described, view(**given))

        answered.operation = described  # type: ignore[attr-defined]
        blueprint.add_url_rule(rule, view_func=answered, methods=[method])
        return answered

    return register


def operation_of(view: Callable) -> Operation | None:
    """The operation a registered view (or a decorator's wrapper of one) was declared as."""
    while view is not None:
        if hasattr(view, "operation"):
            return view.operation
        view = getattr(view, "__wrapped__", None)
    return None


def _read(described: Operation) -> dict[str, Any]:
    given: dict[str, Any] = {}
    if isinstance(described.body, type) and (described.body_required or _has_body()):
        given["body"] = read_json(described.body)
    if described.query is not None:
        given["query"] = validated(described.query, request.args.to_dict())
    if described.headers is not None:
        sent = {
            field.alias: request.headers[field.alias]
            for field in described.headers.model_fields.values()
            if field.alias in request.headers
        }
        given["headers"] = validated(described.headers, sent)
    return given


def _has_body() -> bool:
    return bool(request.content_length) or bool(request.get_data(cache=True))


def validated(model: type[Model], values: dict[str, Any]) -> Model:
    """`values` as `model`, or a 422 problem naming each field that is wrong (query, headers, dashboard forms)."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        errors = field_errors(error)
        raise Problem(
            422,
            "; ".join(f"{each['field']}: {each['message']}" for each in errors),
            kind="validation-error",
            errors=errors,
        ) from None


def _respond(described: Operation, result: Any) -> Response:
    status, reply = described.success
    if reply.media_type != JSON:
        if not isinstance(result, Response) or result.mimetype != reply.media_type:
            raise TypeError(f"{described.operation_id} must answer a {reply.media_type} Response")
        return result
    answer = result if isinstance(result, Answer) else Answer(result)
    undeclared = set(answer.headers) - set(reply.headers)
    if undeclared:
        raise TypeError(f"{described.operation_id} sends headers its declaration does not name: {undeclared}")
    if reply.model is None:
        if answer.body is not None:
            raise TypeError(f"{described.operation_id} declares no body but returned one")
        return Response(status=status, headers=dict(answer.headers))
    if not isinstance(answer.body, reply.model):
        raise TypeError(
            f"{described.operation_id} must answer a {reply.model.__name__}, not {type(answer.body).__name__}"
        )
    document = answer.body.model_dump()
    for name, text in answer.json_members.items():
        document[name] = orjson.Fragment(text)
    return Response(
        jsoncodec.dumps_bytes(document), status=status, mimetype="application/json", headers=dict(answer.headers)
    )
