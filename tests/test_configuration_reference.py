"""docs/configuration.md is written from the settings' declarations and kept in step with them."""

from __future__ import annotations

from config import reference
from tests.support import REPO


def test_the_committed_reference_is_what_the_settings_declare():
    committed = (REPO / "docs" / "configuration.md").read_text()
    assert committed == reference.render(), f"docs/configuration.md is stale: run `{reference.COMMAND}`"


def test_the_reference_names_every_setting_with_its_default():
    written = reference.render()
    assert "| `DATABASE_URL` | required |" in written
    assert "| `PORT` | `8000` |" in written
    assert "| `AGENT_SPOOL_MAX_BYTES` | `100MB` |" in written
