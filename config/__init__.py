"""Settings read from the environment, in one place."""

from config.settings import ConfigError, Settings, database_url_from_env

__all__ = ["ConfigError", "Settings", "database_url_from_env"]
