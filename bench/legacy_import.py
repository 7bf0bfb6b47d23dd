"""How long `smartcompute import legacy` takes for a legacy database of `--hosts` hosts sampled every minute for
`--days` days (5 and 30: 216,000 samples), as tests/ingest/legacy_files.py writes them, into a scratch database.

It times, as an operator runs them: a dry run, the import, and the same import again (which adds nothing).
Wall time and the CPU time of the command (the PostgreSQL server's is not counted).

    .venv/bin/python -m bench.legacy_import [--hosts 5] [--days 30]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bench import platform_bench, procs
from smartcompute.accounts.models import User
from tests.ingest.legacy_files import write_legacy_database


def timed(command: list[str], env: dict[str, str]) -> dict[str, object]:
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": round(time.monotonic() - started, 2),
        "cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
        "report": [line for line in finished.stdout.splitlines() if "jobs:" in line or "hosts:" in line],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--days", type=int, default=30)
    options = parser.parse_args()
    print(json.dumps({"python_loop_seconds": procs.python_loop_seconds()}))
    name = f"smartcompute_bench_legacy_{os.getpid()}_{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="legacy-bench-") as directory, platform_bench.scratch_database(name) as url:
        started = time.monotonic()
        legacy = write_legacy_database(Path(directory) / "smartcompute.db", hosts=options.hosts, days=options.days)
        print(
            json.dumps(
                {
                    "generated": {
                        "samples": legacy.samples_per_host * options.hosts,
                        "megabytes": round(legacy.path.stat().st_size / 1e6, 1),
                        "seconds": round(time.monotonic() - started, 2),
                    }
                }
            )
        )
        engine = create_engine(url)
        with Session(engine) as session:
            user_id, _ = platform_bench.new_bench_user(session)
            session.commit()
            email = session.get(User, user_id).email
        engine.dispose()
        env = {"PATH": os.environ["PATH"], "DATABASE_URL": url}
        command = [str(procs.BIN / "smartcompute"), "import", "legacy", str(legacy.path), "--account-of", email]
        for label, extra in (("dry_run", ["--dry-run"]), ("import", []), ("again", [])):
            print(json.dumps({label: timed(command + extra, env)}))
    print(json.dumps({"python_loop_seconds_after": procs.python_loop_seconds()}))


if __name__ == "__main__":
    main()
