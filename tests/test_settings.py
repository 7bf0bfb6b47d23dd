"""Settings: read once from the environment, each with a type and a default or a one-line error."""

from __future__ import annotations

import pytest

from config import ConfigError, Settings

REQUIRED = {
    "DATABASE_URL": "postgresql://db.example/app",
    "REDIS_URL": "redis://cache.example:6379/0",
    "SECRET_KEY": "s" * 32,
    "JWT_SECRET_KEY": "j" * 32,
}


def test_defaults_fill_in_what_is_optional():
    settings = Settings.from_mapping(REQUIRED)
    assert settings.BROKER_URL == REQUIRED["REDIS_URL"]
    assert settings.PORT == 8000 and settings.FLOWER_PORT == 5555
    assert settings.MAX_CONTENT_LENGTH == 10 * 1024 * 1024
    assert settings.PAYMENT_WEBHOOK_SECRET is None


def test_paas_postgres_urls_are_accepted():
    settings = Settings.from_mapping({**REQUIRED, "DATABASE_URL": "postgres://u:p@db.example:5432/app"})
    assert settings.DATABASE_URL == "postgresql://u:p@db.example:5432/app"


def test_a_unix_socket_redis_becomes_a_socket_broker():
    settings = Settings.from_mapping({**REQUIRED, "REDIS_URL": "unix:///tmp/redis.sock"})
    assert settings.BROKER_URL == "redis+socket:///tmp/redis.sock"


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_a_missing_required_setting_names_it(name):
    values = {key: value for key, value in REQUIRED.items() if key != name}
    with pytest.raises(ConfigError, match=f"^{name}: is required but not set$"):
        Settings.from_mapping(values)


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DATABASE_URL", "mysql://db/app", "must be a postgresql:// URL"),
        ("BROKER_URL", "kafka://broker", "must be a redis://"),
        ("PORT", "eighty", "is not a whole number written in the digits 0-9"),
        ("PORT", "\u0668\u0660", "is not a whole number written in the digits 0-9"),  # int() reads Arabic-Indic 80
        ("WEB_THREADS", "\u00b2", "is not a whole number written in the digits 0-9"),  # isdigit() says yes
        ("PLANS", "free:requests=\u0665/minute", "is not a rate such as 60/minute"),
        ("PORT", "70000", "must be a TCP port"),
        ("SECRET_KEY", "short", "at least 16 characters"),
        ("JWT_SECRET_KEY", "j" * 15, "at least 16 characters"),
        ("FLOWER_BASIC_AUTH", "nopassword", "must be user:password"),
        ("TASK_EVENTS", "maybe", "must be true or false"),
    ],
)
def test_a_malformed_setting_is_one_line_naming_it(name, value, message):
    with pytest.raises(ConfigError) as raised:
        Settings.from_mapping({**REQUIRED, name: value})
    assert str(raised.value).startswith(f"{name}: ") and message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_hard_time_limit_must_exceed_the_soft_one():
    with pytest.raises(ConfigError, match="JOB_HARD_TIME_LIMIT"):
        Settings.from_mapping({**REQUIRED, "JOB_SOFT_TIME_LIMIT": "60", "JOB_HARD_TIME_LIMIT": "30"})


@pytest.mark.parametrize(("value", "confirmed"), [(None, False), ("true", True)])
def test_the_api_waits_for_rabbitmq_publish_confirms_only_when_told_to(value, confirmed):
    from workers.celery_app import celery_config, for_role

    env = {**REQUIRED, "BROKER_URL": "amqp://guest:guest@mq.example:5672//"}
    if value is not None:
        env["BROKER_PUBLISH_CONFIRMS"] = value
    settings = Settings.from_mapping(env)
    web = for_role(celery_config(settings), "web", settings)
    assert web["broker_transport_options"]["confirm_publish"] is confirmed
    assert "confirm_publish" not in for_role(celery_config(settings), "core", settings)["broker_transport_options"]


def test_the_environment_is_read_as_a_dict_is(monkeypatch):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("BROKER_URL", "")  # empty counts as unset
    assert Settings.from_env() == Settings.from_mapping({**REQUIRED, "PORT": "9000"})


def test_a_dict_is_read_without_the_environment(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "e" * 32)
    values = {key: value for key, value in REQUIRED.items() if key != "SECRET_KEY"}
    with pytest.raises(ConfigError, match="^SECRET_KEY: is required but not set$"):
        Settings.from_mapping(values)


def test_every_problem_is_named_on_the_one_line():
    with pytest.raises(ConfigError) as raised:
        Settings.from_mapping({**REQUIRED, "PORT": "eighty", "TASK_EVENTS": "maybe"})
    assert str(raised.value) == (
        "PORT: 'eighty' is not a whole number written in the digits 0-9; TASK_EVENTS: must be true or false"
    )


def test_a_tool_reads_one_setting_with_the_same_checks(monkeypatch):
    from config.settings import database_url_from_env, job_retention_days_from_env

    monkeypatch.setenv("DATABASE_URL", "postgres://db.example/app")
    monkeypatch.delenv("JOB_RETENTION_DAYS", raising=False)
    assert database_url_from_env() == "postgresql://db.example/app"
    assert job_retention_days_from_env() == 30
    monkeypatch.setenv("DATABASE_URL", "mysql://db.example/app")
    with pytest.raises(ConfigError, match="^DATABASE_URL: must be a postgresql:// URL$"):
        database_url_from_env()


def test_a_copy_for_the_core_worker_holds_no_payment_secret():
    settings = Settings.from_mapping({**REQUIRED, "PAYMENT_WEBHOOK_SECRET": "w" * 32, "VAULT_TOKEN": "token"})
    core = settings.without_payment_secrets()
    assert core.PAYMENT_WEBHOOK_SECRET is None and core.VAULT_TOKEN is None
    assert core.DATABASE_URL == settings.DATABASE_URL


def test_every_setting_has_a_description():
    from config.settings import IngestSettings

    for settings_class in (Settings, IngestSettings):
        assert [name for name, field in settings_class.model_fields.items() if not field.description] == []
