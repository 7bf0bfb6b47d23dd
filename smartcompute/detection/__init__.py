"""The detection engine: a pure library (numpy only) that turns host telemetry into findings."""
