"""Query parameters as pydantic models: the operation that reads them (web/routes.py) and the OpenAPI document
share one definition. The types here are the ones several operations read the same way."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from smartcompute.numbers import is_whole_number
from web.bodies import NUL_MESSAGE


def _whole_number(value: object) -> object:
    # int() and pydantic read other scripts' digits, signs and spaces too: a page size is ASCII digits only.
    if isinstance(value, str) and not is_whole_number(value):
        raise PydanticCustomError("int_parsing", "must be a whole number written in the digits 0-9")
    return value


def _without_nul(value: str) -> str:
    if "\x00" in value:  # PostgreSQL cannot compare text holding it
        raise PydanticCustomError("string_nul", NUL_MESSAGE)
    return value


def _empty_is_absent(value: object) -> object:
    return value or None


PageSize = Annotated[int, Field(ge=1, le=100), BeforeValidator(_whole_number)]
Cursor = str | None


def text(max_length: int) -> object:
    """Optional search text of at most `max_length` characters; an empty value is no filter."""
    return Annotated[
        Annotated[str, Field(max_length=max_length), AfterValidator(_without_nul)] | None,
        BeforeValidator(_empty_is_absent),
    ]


class Page(BaseModel):
    limit: PageSize = 20
    cursor: Cursor = None


class Search(BaseModel):
    limit: PageSize = 50
    q: text(320) = None  # type: ignore[valid-type]


class AuditFilters(BaseModel):
    limit: PageSize = 50
    action: text(60) = None  # type: ignore[valid-type]
    cursor: Cursor = None


class AccountFilter(BaseModel):
    account_id: uuid.UUID | None = None
