"""Submit jobs to an API from another host: `python -m tests.submit_jobs URL API_KEY COUNT CLIENTS POINTS`.

Prints {"ids": [...], "seconds": ..., "errors": {status: count}} as JSON (tests/hosts.py runs it on the edge host)."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support import job_body


def main(url: str, api_key: str, count: int, clients: int, points: int) -> None:
    body = json.dumps(job_body(points=points)).encode()
    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
    ids, errors = [], Counter()
    with httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_connections=clients)) as client:

        def post(_: int) -> None:
            answer = client.post("/v1/jobs", content=body, headers=headers)
            if answer.status_code == 202:
                ids.append(answer.json()["id"])
            else:
                errors[answer.status_code] += 1

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(post, range(count)))
    print(json.dumps({"ids": ids, "seconds": time.monotonic() - started, "errors": errors}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
