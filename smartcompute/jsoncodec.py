"""The one JSON codec: orjson, several times faster than the standard library on results of thousands of
scores, used for the JSON columns and API responses alike. numpy numbers from the engine serialise as numbers."""

from __future__ import annotations

import json
from typing import Any
from collections.abc import Iterator

import orjson

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _fallback(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars orjson does not take directly
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_bytes(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_fallback, option=_OPTIONS)
    except orjson.JSONEncodeError:
        # JSON allows integers beyond 64 bits (a provider's event may hold one) and orjson refuses them; the
        # standard library writes them, slowly, and refuses what is not JSON (NaN) like orjson's other errors.
        return json.dumps(value, default=_fallback, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def dumps(value: Any) -> str:
    return dumps_bytes(value).decode()


loads = orjson.loads


def may_hold_nul(raw: bytes) -> bool:
    """False when no string parsed from this JSON can hold U+0000: JSON carries it only as the escape `\\u0000`
    (a raw NUL byte is not valid JSON). True may be a false alarm (an escaped backslash before `u0000`)."""
    return b"\\u0000" in raw


_SCALARS = frozenset({str, int, float, bool, type(None)})


def containers(document: Any) -> Iterator[tuple[dict | list, tuple]]:
    """Every object and array of a parsed document, with its path from the top (member names and positions),
    walked without recursion however deep it nests; an array of nothing but scalars is passed over in C."""
    pending: list[tuple[Any, tuple]] = [(document, ())]
    while pending:
        value, path = pending.pop()
        if not isinstance(value, (dict, list)):
            continue
        yield value, path
        if isinstance(value, dict):
            pending.extend((item, (*path, key)) for key, item in value.items() if type(item) not in _SCALARS)
        elif not set(map(type, value)) <= _SCALARS:
            pending.extend((item, (*path, index)) for index, item in enumerate(value) if type(item) not in _SCALARS)
