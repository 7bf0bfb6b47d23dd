"""What a worker tells the operator as it starts: a database the release step has not migrated yet."""

from __future__ import annotations

from smartcompute.db import SCHEMA_REVISION
from tests.support import celery_worker, migrate

WARNING = "run the release step (alembic upgrade head)"


def test_a_worker_started_before_the_release_step_says_so(base_env, empty_database_url, tmp_path):
    behind = f"{int(SCHEMA_REVISION) - 1:04d}"
    migrate(empty_database_url, behind)
    with celery_worker({**base_env, "DATABASE_URL": empty_database_url}, tmp_path) as worker:
        assert f"the database is at schema revision {behind} and this worker needs {SCHEMA_REVISION}" in worker.log()
        assert WARNING in worker.log()


def test_a_worker_on_a_migrated_database_says_nothing_of_it(base_env, tmp_path):
    with celery_worker(base_env, tmp_path) as worker:
        assert WARNING not in worker.log()
