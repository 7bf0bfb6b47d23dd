"""How gunicorn runs the API's worker processes (web/gunicorn_conf.py)."""

import os
import subprocess
import sys

from tests.support import REPO

AFTER_APP_LOADED = """
import gc
from web import create_app, gunicorn_conf
app = create_app()
gunicorn_conf.post_worker_init(None)
print(gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_what_the_loaded_app_holds_is_out_of_the_collectors_reach(base_env):
    result = subprocess.run(
        [sys.executable, "-c", AFTER_APP_LOADED],
        cwd=REPO,
        env={**os.environ, **base_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    frozen, still_tracked = map(int, result.stdout.split())
    assert frozen > 50_000  # modules, schemas, routes: everything a full collection would otherwise walk
    assert still_tracked < 1_000
