"""SmartCompute: performance-based threat and anomaly analysis of host telemetry."""

__version__ = "0.1.0"
