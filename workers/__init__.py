"""Celery workers. `celery -A workers ...` finds the app here; settings are read when it first configures.

The signal receivers below serve both workers: Python runs this module before any `workers.*` module, the
payment worker's `workers.payment_worker` included."""

from celery import signals

from workers.celery_app import app_settings, create_celery_app
from workers.priority import on_worker_setup
from workers.redis_transport import warn_if_broker_may_evict
from workers.runtime import warn_if_schema_behind

app = create_celery_app(role="core")  # the payment tasks are workers.payment_worker's, not this app's

signals.celeryd_after_setup.connect(on_worker_setup)  # workers yield the CPU to the API (workers/priority.py)
signals.celeryd_after_setup.connect(warn_if_broker_may_evict)  # a Redis broker that may drop queued messages
signals.celeryd_after_setup.connect(warn_if_schema_behind)  # a database the release step has not migrated yet


@signals.setup_logging.connect
def _log_json_lines(**kwargs) -> None:
    from config.logging import configure_logging

    configure_logging(app_settings(app).LOG_LEVEL)
