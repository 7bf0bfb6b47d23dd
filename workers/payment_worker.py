"""The payment worker's Celery app: `celery -A workers.payment_worker worker -Q payment-webhook`, and its
schedule, `celery -A workers.payment_worker beat` (workers/scheduling.py).

It knows only the `payment-webhook` queue and the payment tasks; the core app (`celery -A workers`) knows
neither, so neither worker can run the other's tasks. Its JSON logging and CPU session niceness are set up by
the `workers` package, which Python runs before this module.
"""

from workers.celery_app import create_celery_app

app = create_celery_app(role="payments")  # its tasks, workers.payment_tasks, are imported as the worker starts
