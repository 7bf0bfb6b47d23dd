"""Threat analysis: finds attacks by how they change a host's CPU, memory, disk, network and processes.

Each detector lives in the module named for what it looks at; `report` runs the ones the data allows.
"""

from smartcompute.detection.threat.report import analyze_threats

__all__ = ["analyze_threats"]
