"""Sending work to the broker. Called only after the row the message points to has committed."""
from __future__ import annotations

import uuid

from celery import Celery

from workers.celery_app import PROCESS_PAYMENT_EVENT, RUN_ANALYSIS, app_settings, broker_priority


def publish_job(celery: Celery, job_id: uuid.UUID, priority: str, request_id: str | None) -> None:
    """The Celery task id is the job id, so broker, database and API share one id."""
    celery.send_task(
        RUN_ANALYSIS, args=[str(job_id)], kwargs={"request_id": request_id}, task_id=str(job_id),
        priority=broker_priority(app_settings(celery), priority), retry=False,
    )


def publish_payment_event(celery: Celery, event_id: uuid.UUID, request_id: str | None) -> None:
    celery.send_task(
        PROCESS_PAYMENT_EVENT, args=[str(event_id)], kwargs={"request_id": request_id},
        task_id=str(event_id), retry=False, argsrepr=f"('{event_id}',)", kwargsrepr="{}",
    )
