"""Numbers read from text someone else wrote (a query, a header, a provider's event, the environment): ASCII
digits only, one way everywhere.

`str.isdigit()` accepts characters `int()` refuses (the superscript `²`), which turned `?limit=²` into a 500;
and `int()` and `Decimal()` accept what no protocol means by a number (`٣`, `1_000`, surrounding spaces).
"""

from __future__ import annotations

import re
from decimal import Decimal

_WHOLE = re.compile(r"[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|\.[0-9]+", re.ASCII)


def is_whole_number(text: str) -> bool:
    """True for a run of ASCII digits and nothing else (no sign, no spaces, no underscores)."""
    return bool(_WHOLE.fullmatch(text))


def whole_number(text: str) -> int:
    """The number a run of ASCII digits writes; ValueError for anything else."""
    if not is_whole_number(text):
        raise ValueError(f"{text[:40]!r} is not a whole number written in the digits 0-9")
    return int(text)


def decimal_number(text: str) -> Decimal:
    """A non-negative decimal written in ASCII (`10`, `0.00025`, `1e-05`); ValueError for anything else,
    signs, NaN and infinity included."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{text[:40]!r} is not a decimal number written in the digits 0-9")
    return Decimal(text)
