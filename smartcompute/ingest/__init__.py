"""Getting telemetry in: the host agent and the Prometheus import (clients of the public API), and the import of
the legacy SmartCompute's data (an operator's command that writes to the database)."""
