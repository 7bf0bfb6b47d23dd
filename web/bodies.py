"""Reading request bodies: content type, JSON, then the schema, each with its own problem status."""
from __future__ import annotations

from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from web.problems import Problem, field_errors

Model = TypeVar("Model", bound=BaseModel)


def read_json(model: type[Model]) -> Model:
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise Problem(415, "send the body as application/json", kind="unsupported-media-type")
    raw = request.get_data(cache=True)
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise Problem(400, "the body is not valid JSON", kind="malformed-json") from None
        raise Problem(422, "the request does not match the schema", kind="validation-error",
                      errors=field_errors(error)) from None
