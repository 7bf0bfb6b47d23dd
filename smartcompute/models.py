"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from smartcompute.accounts.models import Account, ApiKey, AuditEvent, AuthSession, RefreshToken, User
from smartcompute.billing.models import CreditBalance, CreditHold, LedgerEntry, Payment, WebhookEvent
from smartcompute.db import Base
from smartcompute.events.models import Event, EventLogState
from smartcompute.hosts.models import Host
from smartcompute.jobs.models import HostBaseline, Job
from smartcompute.maintenance import MaintenanceRound

__all__ = [
    "Account",
    "ApiKey",
    "AuditEvent",
    "AuthSession",
    "RefreshToken",
    "Base",
    "Host",
    "HostBaseline",
    "Job",
    "MaintenanceRound",
    "User",
    "WebhookEvent",
    "CreditBalance",
    "CreditHold",
    "LedgerEntry",
    "Payment",
    "Event",
    "EventLogState",
]
