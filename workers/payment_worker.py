"""The payment worker's Celery app: `celery -A workers.payment_worker worker -Q payment-webhook --beat`.

It knows only the `payment-webhook` queue and the payment tasks; the core app (`celery -A workers`) knows
neither, so neither worker can run the other's tasks.
"""
from celery import signals

from workers.celery_app import app_settings, create_celery_app
from workers.priority import on_worker_setup

app = create_celery_app(role="payments")

signals.celeryd_after_setup.connect(on_worker_setup)  # workers yield the CPU to the API (workers/priority.py)


@signals.setup_logging.connect
def _log_json_lines(**kwargs) -> None:
    from config.logging import configure_logging

    configure_logging(app_settings(app).LOG_LEVEL)


from workers import payment_tasks  # noqa: E402,F401  (registers the payment tasks on `app`)
