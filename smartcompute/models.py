"""Every table, imported in one place so Alembic and the tests see the whole schema."""
from smartcompute.accounts.models import Account, ApiKey, User
from smartcompute.billing.models import WebhookEvent
from smartcompute.db import Base
from smartcompute.jobs.models import HostBaseline, Job

__all__ = ["Account", "ApiKey", "Base", "HostBaseline", "Job", "User", "WebhookEvent"]
