"""Reading request bodies: content type, JSON, the schema, then text PostgreSQL cannot store (NUL), each with its
own problem status."""

from __future__ import annotations

import json
from typing import Any, TypeVar
from collections.abc import Iterator

from flask import request
from pydantic import BaseModel, ValidationError

from smartcompute import jsoncodec
from smartcompute.detection.telemetry import MAX_METRICS
from web.problems import Problem, field_errors, field_path

Model = TypeVar("Model", bound=BaseModel)
NUL_MESSAGE = "must not contain the NUL character (\\u0000)"
_MOST_ERRORS = 20
# pydantic reports every unknown member of an object it validates, so a large body of them costs far more memory
# and time to refuse than to send. A body this large is first checked for an object with more members than any
# request has a use for (the most is a job's metrics); a smaller one cannot hold enough of them to matter, and
# a typical job is below it, so it pays nothing for the check.
_CHECKED_FROM_BYTES = 64 * 1024
MAX_MEMBERS = MAX_METRICS


def read_json(model: type[Model]) -> Model:
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise Problem(415, "send the body as application/json", kind="unsupported-media-type")
    raw = request.get_data(cache=True)
    if len(raw) >= _CHECKED_FROM_BYTES:
        _refuse_crowded_objects(raw)
    try:
        parsed = model.model_validate_json(raw)
    except ValidationError as error:
        count = error.error_count()
        if count == 1 and (first := error.errors()[0])["type"] == "json_invalid":  # a body that does not parse
            # has no other error; the parser says where it stopped and why, never quoting the body
            reason = first["msg"].removeprefix("Invalid JSON: ")
            raise Problem(400, f"the body is not valid JSON: {reason}", kind="malformed-json") from None
        listed = f" ({count} problems; the first {_MOST_ERRORS} are listed)" if count > _MOST_ERRORS else ""
        raise Problem(
            422,
            f"the request does not match the schema{listed}",
            kind="validation-error",
            errors=field_errors(error, most=_MOST_ERRORS),
        ) from None
    if jsoncodec.may_hold_nul(raw):
        _refuse_nul(raw)
    return parsed


def _parsed(raw: bytes) -> Any:
    """The document; ValueError if it does not parse."""
    try:
        return jsoncodec.loads(raw)
    except ValueError:  # orjson refuses a number beyond a double, which is the schema's to judge (422, not 400)
        pass
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _refuse_crowded_objects(raw: bytes) -> None:
    try:
        document = _parsed(raw)
    except ValueError:  # the schema's parser refuses it next, and says where (400)
        return
    for container, path in jsoncodec.containers(document):
        if isinstance(container, dict) and len(container) > MAX_MEMBERS:
            field = field_path(path)
            message = f"has {len(container)} members; no object in a request may have more than {MAX_MEMBERS}"
            raise Problem(
                422, f"{field} {message}", kind="validation-error", errors=[{"field": field, "message": message}]
            )


def _refuse_nul(raw: bytes) -> None:
    """PostgreSQL cannot store U+0000 in text, so no request may carry it: a clear 422, never a 500 later."""
    fields = []
    for path in _paths_with_nul(_parsed(raw), ()):
        fields.append(field_path(path))
        if len(fields) == _MOST_ERRORS:
            break
    if fields:
        raise Problem(
            422,
            f"text in the request {NUL_MESSAGE}",
            kind="validation-error",
            errors=[{"field": field, "message": NUL_MESSAGE} for field in fields],
        )


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
