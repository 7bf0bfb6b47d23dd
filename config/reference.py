"""Writes the configuration reference, docs/configuration.md, from the settings' own declarations.

    python -m config.reference > docs/configuration.md      # or: make docs

tests/test_configuration_reference.py fails when the committed file no longer matches what this writes.
"""

from __future__ import annotations

from pydantic_core import PydanticUndefined

from config.reading import EnvironmentSettings
from config.settings import IngestSettings, Settings

COMMAND = "python -m config.reference > docs/configuration.md"
_INTRODUCTION = f"""# Configuration reference

<!-- Written by `{COMMAND}` (or `make docs`) from the field declarations in config/settings.py; edit those. -->

Every setting is an environment variable of the same name, read in one place (`config/settings.py`). An empty
value counts as unset. A setting that is missing or malformed stops the process at start with one line naming
it, for example `DATABASE_URL: must be a postgresql:// URL`. Secrets that `make run` generates are kept in
`.run/secrets.env`; the payment secrets may be `vault:` or `aws-sm:` references ([payments.md](payments.md)).
"""
_SECTIONS = (
    ("Service: the API, the workers and the schedulers", Settings),
    ("Clients: `smartcompute agent` and `smartcompute import prometheus`", IngestSettings),
)


def render() -> str:
    """The whole reference, as docs/configuration.md holds it."""
    parts = [_INTRODUCTION]
    for title, settings_class in _SECTIONS:
        parts.append(f"\n## {title}\n\n{_table(settings_class)}")
    return "".join(parts)


def _table(settings_class: type[EnvironmentSettings]) -> str:
    rows = ["| Variable | Default | What it is |", "| --- | --- | --- |"]
    for name, field in settings_class.model_fields.items():
        rows.append(f"| `{name}` | {_default(field.default)} | {_cell(field.description or '')} |")
    return "\n".join(rows) + "\n"


def _default(value: object) -> str:
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    return f"`{value}`"


def _cell(text: str) -> str:
    # Table cells end at a pipe, and Markdown would take <base64> for an HTML tag.
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


if __name__ == "__main__":
    print(render(), end="")
