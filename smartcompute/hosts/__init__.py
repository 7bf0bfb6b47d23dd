"""Hosts: what an account knows of each machine it sends telemetry for."""
