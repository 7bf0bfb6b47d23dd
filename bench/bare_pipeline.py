"""The reference pipeline a tutorial would write: POST inserts a row and publishes a task; the task inserts a result;
GET reads the job's status back.

No auth, no validation, no analysis, Celery's defaults. The job benchmark runs it under the same gunicorn and
Celery settings as the real API and workers, so the gap between the two is what the real work costs.

    gunicorn --config python:web.gunicorn_conf "bench.bare_pipeline:create_app()"
    celery -A bench.bare_pipeline:celery_app worker -Q bare-pipeline

Both read BARE_DATABASE_URL, BARE_BROKER_URL and (for Redis) BARE_KEY_PREFIX when first used.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping

from celery import Celery
from flask import Flask, request
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

QUEUE = "bare-pipeline"
TABLES = """
CREATE TABLE IF NOT EXISTS bare_jobs (
    id uuid PRIMARY KEY, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE IF NOT EXISTS bare_results (
    job_id uuid PRIMARY KEY, status text NOT NULL, finished_at timestamptz NOT NULL DEFAULT clock_timestamp());
"""


def create_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for statement in filter(str.strip, TABLES.split(";")):
            connection.execute(text(statement))


def clear_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE bare_jobs, bare_results"))


class _EnvConfig(Mapping):
    """Celery's settings, read from the environment the first time Celery asks for them."""

    def __init__(self) -> None:
        self._values: dict | None = None

    def _load(self) -> dict:
        if self._values is None:
            broker_url = os.environ["BARE_BROKER_URL"]
            self._values = {
                "broker_url": broker_url,
                "task_ignore_result": True,
                "task_default_queue": QUEUE,
                "broker_connection_retry_on_startup": True,
            }
            if broker_url.startswith("redis"):
                self._values["broker_transport_options"] = {"global_keyprefix": os.environ.get("BARE_KEY_PREFIX", "")}
        return self._values

    def __getitem__(self, key: str):
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


celery_app = Celery("bare_pipeline", set_as_current=False)
celery_app.config_from_object(_EnvConfig())
_engines: dict[int, Engine] = {}


def _engine() -> Engine:
    """One pool per process: a pool inherited across fork would share sockets."""
    pid = os.getpid()
    if pid not in _engines:
        _engines[pid] = create_engine(os.environ["BARE_DATABASE_URL"], pool_size=10, max_overflow=10)
    return _engines[pid]


@celery_app.task(name="bare.process_job")
def process_job(job_id: str) -> None:
    with _engine().begin() as connection:
        connection.execute(text("INSERT INTO bare_results (job_id, status) VALUES (:id, 'succeeded')"), {"id": job_id})


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/jobs")
    def submit():
        job_id = str(uuid.uuid4())
        payload = request.get_json()
        with _engine().begin() as connection:
            connection.execute(
                text("INSERT INTO bare_jobs (id, payload) VALUES (:id, CAST(:payload AS jsonb))"),
                {"id": job_id, "payload": json.dumps(payload)},
            )
        process_job.delay(job_id)
        return {"id": job_id, "status": "queued"}, 202

    @app.get("/jobs/<uuid:job_id>")
    def status(job_id: uuid.UUID):
        with _engine().connect() as connection:
            row = connection.execute(
                text(
                    "SELECT j.created_at, r.status, r.finished_at FROM bare_jobs j"
                    " LEFT JOIN bare_results r ON r.job_id = j.id WHERE j.id = :id"
                ),
                {"id": job_id},
            ).one_or_none()
        if row is None:
            return {"error": "no such job"}, 404
        return {
            "id": str(job_id),
            "status": row.status or "queued",
            "created_at": row.created_at.isoformat(),
            "finished_at": row.finished_at and row.finished_at.isoformat(),
        }

    return app
