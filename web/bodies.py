"""Reading request bodies: content type, JSON, the schema, then text PostgreSQL cannot store (NUL), each with its
own problem status."""
from __future__ import annotations

from typing import Any, Iterator, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from smartcompute import jsoncodec
from web.problems import Problem, field_errors, field_path

Model = TypeVar("Model", bound=BaseModel)
NUL_MESSAGE = "must not contain the NUL character (\\u0000)"
_MOST_ERRORS = 20


def read_json(model: type[Model]) -> Model:
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise Problem(415, "send the body as application/json", kind="unsupported-media-type")
    raw = request.get_data(cache=True)
    try:
        parsed = model.model_validate_json(raw)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise Problem(400, "the body is not valid JSON", kind="malformed-json") from None
        raise Problem(422, "the request does not match the schema", kind="validation-error",
                      errors=field_errors(error)) from None
    if jsoncodec.may_hold_nul(raw):
        _refuse_nul(raw)
    return parsed


def _refuse_nul(raw: bytes) -> None:
    """PostgreSQL cannot store U+0000 in text, so no request may carry it: a clear 422, never a 500 later."""
    fields = []
    for path in _paths_with_nul(jsoncodec.loads(raw), ()):
        fields.append(field_path(path))
        if len(fields) == _MOST_ERRORS:
            break
    if fields:
        raise Problem(422, f"text in the request {NUL_MESSAGE}", kind="validation-error",
                      errors=[{"field": field, "message": NUL_MESSAGE} for field in fields])


def _paths_with_nul(value: Any, path: tuple) -> Iterator[tuple]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                yield path  # a name inside this object
            yield from _paths_with_nul(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths_with_nul(item, (*path, index))
