"""The text of each PL/pgSQL function, one file per version, for the migrations to execute.

`<function>.sql` is the function's current definition; the migration that last changed the function creates it
from there. `history/<function>.<revision>.sql` is a version an older revision wrote and a later one replaced:
the older revision's upgrade creates it and the later one's downgrade puts it back. Each file starts with
CREATE OR REPLACE, so it serves both.

To change a function in a new revision: move `<function>.sql` to `history/<function>.<revision>.sql`, naming the
revision that loads it now, and point that revision there; then write the new definition in `<function>.sql` and
load it from the new revision.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def definition(function: str, *, written_by: str | None = None) -> str:
    """The current definition, or with `written_by` the version that revision wrote."""
    name = f"{function}.sql" if written_by is None else f"history/{function}.{written_by}.sql"
    return (_HERE / name).read_text()
