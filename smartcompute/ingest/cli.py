"""`smartcompute agent` and `smartcompute import ...`. Errors are one line on stderr and a non-zero exit."""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import time
from datetime import datetime, UTC
from pathlib import Path

import click

from config.settings import ConfigError, IngestSettings
from smartcompute.ingest.api_client import ApiClient, ApiError
from smartcompute.jobs.enums import JobType


def ingest_settings() -> IngestSettings:
    try:
        return IngestSettings.from_env()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def api_client(settings: IngestSettings, user_agent: str) -> ApiClient:
    return ApiClient(
        settings.SMARTCOMPUTE_URL,
        settings.SMARTCOMPUTE_API_KEY,
        timeout=settings.INGEST_TIMEOUT_SECONDS,
        ca_file=settings.SMARTCOMPUTE_CA_FILE,
        user_agent=user_agent,
    )


def agent_host(settings: IngestSettings) -> str:
    return settings.AGENT_HOST or socket.gethostname()


@click.group("agent", invoke_without_command=True)
@click.pass_context
def agent(ctx: click.Context) -> None:
    """Sample this host and send its telemetry to the API.

    Samples every AGENT_INTERVAL_SECONDS and sends an anomaly_detection job per AGENT_BATCH_SECONDS
    (and a threat_analysis job per AGENT_THREAT_SECONDS), through an on-disk spool that keeps them while the API
    is away. Runs in the foreground, logging JSON lines to stderr, until SIGTERM or Ctrl-C. Settings come from
    the environment (SMARTCOMPUTE_URL, SMARTCOMPUTE_API_KEY, AGENT_*; see docs/ingestion.md)."""
    if ctx.invoked_subcommand is not None:
        return
    from config.logging import configure_logging
    from smartcompute.ingest.agent import Agent
    from smartcompute.ingest.sampler import HostSampler
    from smartcompute.ingest.spool import Spool
    from smartcompute.ingest.threat_watch import ThreatWatch

    settings = ingest_settings()
    configure_logging(settings.LOG_LEVEL)
    try:
        spool = Spool(settings.AGENT_SPOOL_DIR, settings.AGENT_SPOOL_MAX_BYTES)
    except OSError as error:
        raise click.ClickException(
            f"AGENT_SPOOL_DIR: cannot use {settings.AGENT_SPOOL_DIR}: {error.strerror}"
        ) from None
    sampler = HostSampler(ThreatWatch() if settings.AGENT_THREAT_SECONDS else None)
    running = Agent(settings, agent_host(settings), api_client(settings, "smartcompute-agent"), spool, sampler)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: running.stop.set())
    try:
        running.run()
    finally:
        spool.close()


@agent.command("status")
def agent_status() -> None:
    """Print this host's open incidents (from the API) and what waits in the agent's spool."""
    from smartcompute.ingest.spool import Spool

    settings = ingest_settings()
    host = agent_host(settings)
    if (Path(settings.AGENT_SPOOL_DIR) / "spool.sqlite3").exists():
        try:
            state = Spool(settings.AGENT_SPOOL_DIR, settings.AGENT_SPOOL_MAX_BYTES).state()
            click.echo(
                f"spool: {state.batches} batches waiting ({state.bytes} bytes); {state.dropped_when_full} "
                f"dropped when full, {state.refused_by_the_api} refused by the API"
            )
        except (OSError, sqlite3.Error) as error:
            click.echo(f"spool: cannot read {settings.AGENT_SPOOL_DIR}: {error}")
    try:
        known = api_client(settings, "smartcompute-agent").host(host)
    except ApiError as error:
        raise click.ClickException(str(error)) from None
    if known is None:
        click.echo(f"host {host}: not known to the API yet (none of its jobs has finished)")
        return
    incidents = known["open_incidents"]
    click.echo(f"host {host}: {len(incidents)} open incident{'' if len(incidents) == 1 else 's'}")
    for incident in incidents:
        click.echo(
            f"  since {incident['start']}  {incident['severity']:<8} {incident['kind']:<11} "
            f"{', '.join(incident['metrics'])}  (peak {incident.get('peak_score')} at {incident.get('peak_at')})"
        )


@click.group("import")
def import_group() -> None:
    """Bring telemetry in from elsewhere: a Prometheus server, or the legacy SmartCompute's files."""


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 31_536_000}


class Duration(click.ParamType):
    """A Prometheus duration: 30s, 5m, 1h30m, 1d."""

    name = "duration"

    def convert(self, value, param, ctx) -> float:
        if isinstance(value, float):
            return value
        text = str(value).strip()
        parts = _DURATION.findall(text)
        if not parts or "".join(number + unit for number, unit in parts) != text:
            self.fail(f"{value!r} is not a duration such as 30s, 5m or 1h30m", param, ctx)
        seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
        if seconds <= 0:
            self.fail("must be longer than zero", param, ctx)
        return seconds


class Moment(click.ParamType):
    """A time: RFC 3339 (UTC when it has no offset), epoch seconds, `now`, or `now-DURATION` (now-2h)."""

    name = "time"

    def convert(self, value, param, ctx) -> float:
        if isinstance(value, float):
            return value
        text = str(value).strip()
        if text == "now" or text.startswith("now-"):
            return time.time() - (Duration().convert(text[4:], param, ctx) if text != "now" else 0.0)
        try:
            return float(text)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not a time (RFC 3339, epoch seconds, now or now-2h)", param, ctx)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@import_group.command("prometheus")
@click.option("--url", required=True, help="Prometheus' base URL, such as http://prometheus:9090.")
@click.option(
    "--query",
    "queries",
    required=True,
    multiple=True,
    metavar="[NAME=]PROMQL",
    help="A PromQL expression; repeat it to send several together. Query counters as rates "
    "(rate(node_network_receive_bytes_total[5m])): a raw counter only grows, and each reset looks "
    "like an incident. NAME= names its series that have no name (a rate() drops it).",
)
@click.option(
    "--host-label",
    default="instance",
    show_default=True,
    help="The label that names each series' host: one job per host.",
)
@click.option("--start", type=Moment(), help="Where to begin (required without --follow).")
@click.option("--end", type=Moment(), help="Where to end; default now.")
@click.option("--step", type=Duration(), default="60s", show_default=True, help="Time between samples.")
@click.option("--follow", is_flag=True, help="Keep going: submit each new span of --every as it arrives.")
@click.option("--every", type=Duration(), default="5m", show_default=True, help="With --follow, how often.")
@click.option(
    "--job-type",
    type=click.Choice(sorted(job_type.value for job_type in JobType)),
    default=JobType.ANOMALY_DETECTION.value,
    show_default=True,
)
@click.option("--max-points", type=click.IntRange(1), help="Points per job; default: the account's plan limit.")
@click.option("--allow-partial", is_flag=True, help="Import answers Prometheus warns may be incomplete.")
def import_prometheus(
    url, queries, host_label, start, end, step, follow, every, job_type, max_points, allow_partial
) -> None:
    """Submit Prometheus series as jobs, one per host and span.

    Runs each range query, groups the series by --host-label, names each metric from its labels
    (node_load1{job="node"}), skips points that are not numbers (NaN, stale), and splits long ranges into jobs
    under the per-job limits. SMARTCOMPUTE_URL and SMARTCOMPUTE_API_KEY name the API; PROMETHEUS_BASIC_AUTH
    (user:password) or PROMETHEUS_BEARER_TOKEN authenticate to Prometheus."""
    from smartcompute.ingest.prometheus import Prometheus, PrometheusError, Query
    from smartcompute.ingest.prometheus_import import ImportFailed, Plan, PrometheusImport

    if start is None and not follow:
        raise click.UsageError("--start is required (or --follow to import from now on)")
    if follow and every < step:
        raise click.UsageError("--every must be at least --step")
    settings = ingest_settings()
    client = api_client(settings, "smartcompute-import")
    prometheus = Prometheus(
        url,
        basic_auth=settings.PROMETHEUS_BASIC_AUTH,
        bearer_token=settings.PROMETHEUS_BEARER_TOKEN,
        timeout=settings.INGEST_TIMEOUT_SECONDS,
    )
    try:
        plan = Plan(
            tuple(Query.parse(text) for text in queries),
            host_label,
            step,
            job_type,
            max_points or _plan_points(client),
            allow_partial,
        )
        runner = PrometheusImport(prometheus, client, plan, echo=click.echo)
        if follow:
            runner.follow(start, every)  # until stopped
        else:
            runner.span(start, time.time() if end is None else end)
    except (PrometheusError, ImportFailed, ApiError) as error:
        raise click.ClickException(str(error)) from None
    totals = runner.totals
    click.echo(
        f"{totals.jobs} jobs for {len(totals.hosts)} hosts ({totals.points} points)"
        + (f"; {totals.refused} refused" if totals.refused else "")
    )
    if totals.refused:
        raise SystemExit(1)


def _plan_points(client: ApiClient) -> int:
    """The account's points per job, from its plan (GET /v1/account)."""
    return int(client.account()["limits"]["points_per_job"])


@import_group.command("legacy")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--account-of", "email", required=True, metavar="EMAIL", help="Import into this user's account.")
@click.option(
    "--json-host", metavar="NAME", help="The host of JSON metric samples whose record and file name name none."
)
@click.option(
    "--keep-days",
    type=click.IntRange(1),
    help="How long imported jobs are kept, from the import; default JOB_RETENTION_DAYS.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be imported, and write nothing.")
def import_legacy(
    paths: tuple[Path, ...], email: str, json_host: str | None, keep_days: int | None, dry_run: bool
) -> None:
    """Import the legacy SmartCompute's data: smartcompute.db files and directories of its JSON files.

    Profiles become hosts (their hardware as attributes), baselines seed each host's CPU and memory baseline,
    detections and alerts become finished anomaly_detection jobs (one per host and day) with their incidents,
    and reports finished performance_analysis jobs, all marked as imported. Bad rows are reported and left
    out; the compute optimizer's data is counted, not imported. Everything commits together, and importing
    again adds nothing. Needs DATABASE_URL."""
    from config.settings import job_retention_days_from_env
    from smartcompute.accounts.services import AccountError
    from smartcompute.cli import _sessions
    from smartcompute.ingest.legacy.importer import import_legacy as run_import
    from smartcompute.ingest.legacy.sqlite_source import NotALegacyDatabase

    try:
        days = keep_days or job_retention_days_from_env()
        lines = run_import(_sessions(), list(paths), email=email, json_host=json_host, keep_days=days, dry_run=dry_run)
    except (AccountError, NotALegacyDatabase, ConfigError) as error:
        raise click.ClickException(str(error)) from None
    for line in lines:
        click.echo(line)
