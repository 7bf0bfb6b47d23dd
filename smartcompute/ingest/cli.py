"""`smartcompute agent` and `smartcompute import ...`. Errors are one line on stderr and a non-zero exit."""
from __future__ import annotations

import signal
import socket
from pathlib import Path

import click

from config.settings import ConfigError, IngestSettings
from smartcompute.ingest.api_client import ApiClient, ApiError


def ingest_settings() -> IngestSettings:
    try:
        return IngestSettings.from_env()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def api_client(settings: IngestSettings, user_agent: str) -> ApiClient:
    return ApiClient(settings.SMARTCOMPUTE_URL, settings.SMARTCOMPUTE_API_KEY, timeout=settings.INGEST_TIMEOUT_SECONDS,
                     ca_file=settings.SMARTCOMPUTE_CA_FILE, user_agent=user_agent)


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
        raise click.ClickException(f"AGENT_SPOOL_DIR: cannot use {settings.AGENT_SPOOL_DIR}: {error.strerror}") from None
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
        state = Spool(settings.AGENT_SPOOL_DIR, settings.AGENT_SPOOL_MAX_BYTES).state()
        click.echo(f"spool: {state.batches} batches waiting ({state.bytes} bytes); {state.dropped_when_full} dropped "
                   f"when full, {state.refused_by_the_api} refused by the API")
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
        click.echo(f"  since {incident['start']}  {incident['severity']:<8} {incident['kind']:<11} "
                   f"{', '.join(incident['metrics'])}  (peak {incident.get('peak_score')} at {incident.get('peak_at')})")


@click.group("import")
def import_group() -> None:
    """Bring telemetry in from elsewhere: a Prometheus server, or the legacy SmartCompute's files."""
