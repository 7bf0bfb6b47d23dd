"""Who may call an operation (web/routes.py): the check its view runs first, and the same fact as OpenAPI
security requirements and the problems the check answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable, Mapping

from smartcompute.accounts.services import ROLE_SCOPES
from web.auth import current_principal
from web.problems import Problem

_CREDENTIALS = {401: "No or invalid credentials", 503: "The database or broker is unavailable"}


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Access:
    security: tuple[dict[str, list[str]], ...]
    errors: Mapping[int, str] = field(default_factory=dict)
    description: str | None = None
    check: Callable[[], None] = _nothing


PUBLIC = Access(())


def scope(name: str) -> Access:
    """An API key or a sign-in (JWT) whose scopes include `name`; the roles that hold it are named for readers."""
    holders = [f"{role}s" for role, scopes in ROLE_SCOPES.items() if name in scopes]
    if not holders:
        raise ValueError(f"no role holds the {name} scope")

    def check() -> None:
        if not current_principal().can(name):
            raise Problem(403, f"these credentials lack the {name} scope", kind="forbidden")

    return Access(
        ({"ApiKey": [name]}, {"Bearer": [name]}),
        {**_CREDENTIALS, 403: "The credentials lack the scope"},
        f"Needs the `{name}` scope, which {_listed(holders)} hold.",
        check,
    )


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _signed_in() -> None:
    if current_principal().session_id is None:
        raise Problem(403, "sign in with email and password (a JWT) for this; API keys cannot", kind="forbidden")


def _staff() -> None:
    principal = current_principal()
    if not principal.is_staff or principal.session_id is None:
        raise Problem(403, "this is for platform staff, signed in with a JWT", kind="forbidden")


# A signed-in user (JWT), not an API key: for acting on the sign-in itself.
SIGNED_IN = Access(({"Bearer": []},), {**_CREDENTIALS, 403: "Not signed in with a JWT"}, check=_signed_in)
# Platform staff, signed in with a JWT: API keys never carry staff powers.
STAFF = Access(({"Bearer": []},), {**_CREDENTIALS, 403: "Not platform staff signed in with a JWT"}, check=_staff)
# A sign-in's own token, or none when the body names a refresh token instead (the view decides).
BEARER_OR_NONE = Access(({"Bearer": []}, {}), {**_CREDENTIALS, 403: "Not signed in with a JWT"})
