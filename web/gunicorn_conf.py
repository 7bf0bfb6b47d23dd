"""gunicorn settings: bind to $PORT, threads for I/O-bound requests, JSON access logs via our logger."""

import os

from config.settings import Settings

# Read alone, before the rest of the settings are checked in on_starting, as gunicorn needs them to load.
bind = f"{Settings.one_from_env('BIND_ADDRESS')}:{Settings.one_from_env('PORT')}"
workers = Settings.one_from_env("WEB_CONCURRENCY")
worker_class = "gthread"
threads = Settings.one_from_env("WEB_THREADS")
timeout = 30
graceful_timeout = 20
# Longer than the keep-alive nginx keeps to us (deploy/nginx: 4 s), so nginx never reuses a connection as we close it.
keepalive = 5
# Slow clients, body limits and connection limits are nginx's (deploy/nginx). Its header buffers (4 x 8 KB) bound
# what it passes on; ours are set at gunicorn's maxima so that every request nginx passes is one we parse.
limit_request_line = 8190
limit_request_fields = 32768
accesslog = None
errorlog = "-"

# A request thread back from a database or broker round trip waits for the GIL until the thread holding it
# yields, after at most the switch interval (CPython's default: 5 ms). A POST makes several round trips, so under
# load those waits added up in the tail latency; a shorter interval cuts them (bench/platform_bench.py).
GIL_SWITCH_INTERVAL_SECONDS = 0.001


def on_starting(server):
    """Check the settings before listening, and make a directory where each API process writes its request
    counts, for a scrape of any of them to add up (web/request_metrics.py).

    A missing or malformed setting stops the server here with one line naming it (gunicorn prints a SystemExit's
    message), rather than a traceback from every worker that then fails to boot. The metrics directory is set
    before any worker starts, so each imports prometheus_client in that mode. An operator's own
    PROMETHEUS_MULTIPROC_DIR is used as given, emptied of the counts of an earlier run."""
    import glob
    import tempfile

    from config import ConfigError, Settings

    try:
        Settings.from_env()
    except ConfigError as error:
        raise SystemExit(f"Error: {error}") from None
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        for kind in ("counter", "gauge", "histogram", "summary"):  # prometheus_client's file names, no others
            for stale in glob.glob(os.path.join(given, f"{kind}_*.db")):
                os.remove(stale)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = server.smartcompute_metrics_dir = tempfile.mkdtemp(
            prefix="smartcompute-api-metrics-"
        )


def on_exit(server):
    import shutil

    made = getattr(server, "smartcompute_metrics_dir", None)
    if made:
        shutil.rmtree(made, ignore_errors=True)


def post_fork(server, worker):
    import sys

    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)


def post_worker_init(worker):
    """Move everything the loaded app holds (modules, schemas, compiled queries) out of the collector's reach.

    A full collection walks every tracked object with every request thread of the process stopped, and the
    loaded app's objects made each one a latency spike. Frozen objects are never scanned again; what requests
    create is collected as before."""
    import gc

    gc.freeze()
    _end_event_streams_on_sigterm(worker)


def _end_event_streams_on_sigterm(worker):
    """A worker told to stop (SIGTERM) waits up to graceful_timeout for its open requests, and an event stream
    would take all of it: its streams end at once instead, and their clients reconnect elsewhere."""
    import signal

    from web.events import end_event_streams

    graceful = signal.getsignal(signal.SIGTERM)
    if not callable(graceful):  # not gunicorn's worker: nothing to chain to
        return

    def stop(signum, frame):
        end_event_streams(worker.wsgi)
        graceful(signum, frame)

    signal.signal(signal.SIGTERM, stop)
