"""How a settings class is read: raw text from the environment (or a test's dict), each field's parser, and
one line naming the variable when something is wrong.

The settings classes themselves are in `config/settings.py`; each field there declares its type, parser,
default and description, and `config/reference.py` writes docs/configuration.md from those declarations.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

REQUIRED: Any = PydanticUndefined  # a setting with no default
# The mapping from_mapping() is reading, for the settings source; unset, the process environment.
_reading: ContextVar[Mapping[str, Any] | None] = ContextVar("settings_source", default=None)


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line naming it."""


def setting(default: Any, description: str) -> Any:
    """A field: its default written as it would be in the environment (or REQUIRED), and what it is for."""
    return Field(default, description=description)


def parsed(parse: Callable[[str], Any]) -> BeforeValidator:
    """A field whose text `parse` turns into its value; anything else (an unset setting's None) passes as it is."""
    return BeforeValidator(lambda value: parse(value) if isinstance(value, str) else value)


class _Variables(PydanticBaseSettingsSource):
    """Every setting's raw text from one mapping, by its exact name. An empty value counts as unset, as it
    does in a shell's `NAME=` and in Compose files that pass an unset variable through."""

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, Any]):
        super().__init__(settings_cls)
        self.variables = variables

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.variables.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        found = {name: self.variables.get(name) for name in self.settings_cls.model_fields}
        return {name: str(value) for name, value in found.items() if value is not None and value != ""}


class EnvironmentSettings(BaseSettings):
    """Settings read from environment variables named like their fields, with no prefix, .env file or JSON."""

    model_config = SettingsConfigDict(frozen=True, case_sensitive=True, validate_default=True, extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # One source only, so a test's dict is read exactly as the environment is and nothing leaks in from either.
        return (_Variables(settings_cls, _reading.get() or os.environ),)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Any:
        token = _reading.set(values)
        try:
            return cls()
        except ValidationError as error:
            raise ConfigError(one_line(error)) from None
        finally:
            _reading.reset(token)

    @classmethod
    def from_env(cls) -> Any:
        return cls.from_mapping(os.environ)

    @classmethod
    def one_from_env(cls, name: str) -> Any:
        """One setting alone, read and checked as the whole class would, for tools that need nothing else."""
        field = cls.model_fields[name]
        raw = os.environ.get(name) or field.default
        if raw is PydanticUndefined:
            raise ConfigError(f"{name}: is required but not set")
        declared: Any = Annotated[field.annotation, field]
        adapter: TypeAdapter[Any] = TypeAdapter(declared)
        try:
            return adapter.validate_python(raw)
        except ValidationError as error:
            raise ConfigError(one_line(error, name)) from None


def one_line(error: ValidationError, name: str = "") -> str:
    """Every problem pydantic found, each as `NAME: what is wrong`, on one line."""
    return "; ".join(_problem(each, name) for each in error.errors())


def _problem(problem: Any, name: str) -> str:
    where = ".".join(str(part) for part in problem["loc"]) or name
    if problem["type"] == "missing":
        what = "is required but not set"
    elif problem["type"] == "value_error":
        what = str(problem["ctx"]["error"])
    else:
        what = problem["msg"]
    # A check across settings (a model validator) has no location: its message starts with the name it blames.
    return f"{where}: {what}" if where else what
