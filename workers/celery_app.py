"""The Celery application: queues, routes, reliability policy and the re-publisher schedule (sent by `celery beat`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from urllib.parse import parse_qsl, urlsplit

import click
from celery import Celery
from kombu import Exchange, Queue

from config import ConfigError, Settings
from smartcompute import maintenance

CORE_QUEUE = "core-analysis"
PAYMENT_QUEUE = "payment-webhook"
RUN_ANALYSIS = "workers.tasks.run_analysis"
PROCESS_PAYMENT_EVENT = "workers.tasks.process_payment_event"
REPUBLISH = "workers.tasks.republish_waiting_work"
DELIVER_CALLBACK = "workers.callback_tasks.deliver_job_callback"
REPUBLISH_PAYMENTS = "workers.payment_tasks.republish_payment_events"
EXPIRE_PAYMENTS = "workers.payment_tasks.expire_overdue_payments"
# Which process a Celery app is for: the API publishes to both queues; each worker knows only its own queue,
# and the core worker's settings carry no payment secrets (it cannot verify, create or process payments).
ROLES = ("web", "core", "payments")
# The task modules a worker of each role imports as it starts (Celery's `include`); the API sends tasks by name.
TASK_MODULES = {"web": (), "core": ("workers.tasks", "workers.callback_tasks"), "payments": ("workers.payment_tasks",)}

# RabbitMQ serves the highest number first; kombu's Redis transport serves priority step 0 first.
_RABBITMQ_PRIORITY = {"low": 0, "normal": 3, "high": 6, "critical": 9}
_REDIS_PRIORITY = {"low": 9, "normal": 6, "high": 3, "critical": 0}
# One Redis list per priority we publish: a worker's BRPOP names every step's list, each time it waits.
REDIS_PRIORITY_STEPS = sorted(set(_REDIS_PRIORITY.values()))


def broker_priority(settings: Settings, priority: str) -> int:
    return (_REDIS_PRIORITY if settings.broker_is_redis else _RABBITMQ_PRIORITY)[priority]


def redis_broker_tls(broker_url: str) -> dict | None:
    """TLS for a rediss:// broker. kombu turns it on by the URL's scheme only under its own transport's name, and
    Celery is given ours (workers/redis_transport.py), so without this a rediss:// URL would be spoken in
    plain text. The certificate is verified against the system's CAs unless the URL's `ssl_*` parameters say
    otherwise (`?ssl_cert_reqs=none`, `ssl_ca_certs=/path`), as redis-py reads the same URL for the API."""
    parts = urlsplit(broker_url)
    if parts.scheme != "rediss":
        return None
    from_url = {key: value for key, value in parse_qsl(parts.query) if key.startswith("ssl_")}
    return {"ssl_cert_reqs": "required", **from_url}


def celery_config(settings: Settings) -> dict:
    exchange = Exchange("smartcompute", type="direct", durable=True)
    transport_options: dict = {"confirm_publish": settings.BROKER_PUBLISH_CONFIRMS, "max_retries": 0}
    if settings.broker_is_redis:
        transport_options = {
            "visibility_timeout": settings.BROKER_VISIBILITY_TIMEOUT,
            # Sweep for messages whose worker died every few seconds (kombu's default is ~100 s).
            "unacked_restore_interval": max(1, min(10, settings.BROKER_VISIBILITY_TIMEOUT // 3)),
            "unacked_restore_throttle": 1,
            "priority_steps": REDIS_PRIORITY_STEPS,
            "sep": ":",
            "queue_order_strategy": "priority",
            "global_keyprefix": settings.BROKER_KEY_PREFIX or "",
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
            "max_retries": 0,
        }
    return {
        "broker_url": settings.BROKER_URL,
        # kombu's Redis transport, with one redis-py client per channel (see workers/redis_transport.py).
        **({"broker_transport": "workers.redis_transport:Transport"} if settings.broker_is_redis else {}),
        "broker_use_ssl": redis_broker_tls(settings.BROKER_URL) or False,
        "broker_transport_options": transport_options,
        "broker_connection_timeout": 2,
        "broker_connection_retry_on_startup": True,
        "result_backend": None,  # job status lives in PostgreSQL, never in a result backend
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_queues": [
            Queue(CORE_QUEUE, exchange, routing_key=CORE_QUEUE, durable=True, queue_arguments={"x-max-priority": 9}),
            Queue(PAYMENT_QUEUE, exchange, routing_key=PAYMENT_QUEUE, durable=True),
        ],
        "task_routes": {
            RUN_ANALYSIS: {"queue": CORE_QUEUE, "routing_key": CORE_QUEUE},
            REPUBLISH: {"queue": CORE_QUEUE, "routing_key": CORE_QUEUE},
            DELIVER_CALLBACK: {"queue": CORE_QUEUE, "routing_key": CORE_QUEUE},
            PROCESS_PAYMENT_EVENT: {"queue": PAYMENT_QUEUE, "routing_key": PAYMENT_QUEUE},
        },
        "task_default_queue": CORE_QUEUE,
        "task_default_exchange": "smartcompute",
        "task_default_routing_key": CORE_QUEUE,
        "task_queue_max_priority": 9,
        "task_default_priority": _RABBITMQ_PRIORITY["normal"],
        "task_create_missing_queues": False,
        # A job is only done when its row says so: acknowledge after the task body, and give a
        # message back to the queue if the process running it dies.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        # When the broker connection drops, a running job goes on (its message is redelivered, and the job's
        # advisory lock turns the redelivery away until the job is finished): cancelling it would only redo
        # the work. Said here, where Celery 5 would warn about its default on every reconnect.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings.JOB_SOFT_TIME_LIMIT,
        "task_time_limit": settings.JOB_HARD_TIME_LIMIT,
        "task_publish_retry": False,
        "worker_send_task_events": settings.TASK_EVENTS,
        "worker_consumer": "workers.consumer:Consumer",  # task events in batches (see workers/consumer.py)
        # Off by default (as in Celery): Flower lists a task from its task-received event; waiting ones are
        # counted on its broker page. A sent event would cost the API a second publish per job.
        "task_send_sent_event": settings.TASK_EVENTS and settings.TASK_SENT_EVENTS,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_max_memory_per_child": 300_000,  # KiB; a child that grew past this is replaced
        # The schedule is sent by `celery beat` in a process of its own, one at a time (workers/scheduling.py).
        # The round goes ahead of waiting jobs, so a backlog does not hold it past its expiry.
        "beat_scheduler": "workers.scheduling:Scheduler",
        "beat_schedule": {
            maintenance.REPUBLISH_JOBS: {
                "task": REPUBLISH,
                "schedule": float(settings.REPUBLISH_INTERVAL),
                "options": {**scheduled_send(settings), "priority": broker_priority(settings, "critical")},
            },
        },
    }


def scheduled_send(settings: Settings) -> dict:
    """How the scheduler sends a round: it expires unstarted after one interval (the next round replaces it), and
    a send that fails on a broken broker connection is tried again on a new one. Every other publish fails at
    once (`task_publish_retry`), its row marked for the re-publisher; beat kept its connection instead, and after
    a RabbitMQ restart every send failed on it until the scheduler was restarted."""
    interval = float(settings.REPUBLISH_INTERVAL)
    return {
        "expires": interval,
        "retry": True,
        "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 1, "interval_max": 1},
    }


def for_role(config: dict, role: str, settings: Settings) -> dict:
    """The web role keeps everything but the schedule; each worker keeps only its own queue and schedule."""
    if role == "web":
        return {**config, "beat_schedule": {}}
    config = _without_publish_confirms(config)
    if role == "core":
        return {**config, "task_queues": [q for q in config["task_queues"] if q.name == CORE_QUEUE]}
    # The expiry sweep shares the re-publisher's interval: a payment may still show `pending` for up to one
    # interval past its deadline, which is harmless (a payment made late is credited anyway).
    interval = float(settings.REPUBLISH_INTERVAL)
    every_interval = {"schedule": interval, "options": scheduled_send(settings)}
    return {
        **config,
        "task_queues": [q for q in config["task_queues"] if q.name == PAYMENT_QUEUE],
        "task_default_queue": PAYMENT_QUEUE,
        "task_default_routing_key": PAYMENT_QUEUE,
        "task_routes": {
            **config["task_routes"],
            REPUBLISH_PAYMENTS: {"queue": PAYMENT_QUEUE, "routing_key": PAYMENT_QUEUE},
        },
        "beat_schedule": {
            maintenance.REPUBLISH_PAYMENT_EVENTS: {"task": REPUBLISH_PAYMENTS, **every_interval},
            maintenance.EXPIRE_PAYMENTS: {"task": EXPIRE_PAYMENTS, **every_interval},
        },
    }


def _without_publish_confirms(config: dict) -> dict:
    """Workers publish Flower's task events from their event loop, and waiting for a RabbitMQ confirm on each
    one stalled that loop (half the main process's time). Their other publishes (retries, re-publisher sends)
    are backed by PostgreSQL: the re-publisher sends a lost one again (`workers.publishing.resend_after`). Only
    the API may wait for confirms, with BROKER_PUBLISH_CONFIRMS (off by default; see README, Configuration)."""
    options = {key: value for key, value in config["broker_transport_options"].items() if key != "confirm_publish"}
    return {**config, "broker_transport_options": options}


def create_celery_app(settings: Settings | None = None, role: str = "web") -> Celery:
    """Settings are read when Celery first needs its configuration, not at import."""
    app = Celery("smartcompute", set_as_current=False, include=list(TASK_MODULES[role]))
    app.smartcompute_settings = settings
    app.smartcompute_role = role
    app.config_from_object(_LazyCeleryConfig(app))
    return app


class _LazyCeleryConfig(Mapping):
    """Celery reads its config source on first use; only then are the settings read from the environment."""

    def __init__(self, app: Celery):
        self._app = app
        self._config: dict | None = None

    def _values(self) -> dict:
        if self._config is None:
            settings = app_settings(self._app)
            self._config = for_role(celery_config(settings), getattr(self._app, "smartcompute_role", "web"), settings)
        return self._config

    def __getitem__(self, key: str):
        return self._values()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())


def app_settings(app: Celery) -> Settings:
    if app.smartcompute_settings is None:
        try:
            app.smartcompute_settings = Settings.from_env()
        except ConfigError as error:
            # Every `celery` command (worker, flower, inspect, purge) first reads the settings here, inside
            # Celery's click CLI, which prints this as one line, "Error: <SETTING>: ...", and exits 1.
            raise click.ClickException(str(error)) from None
        if getattr(app, "smartcompute_role", "web") == "core":
            app.smartcompute_settings = app.smartcompute_settings.without_payment_secrets()
    return app.smartcompute_settings
