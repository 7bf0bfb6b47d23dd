"""Suspicious processes: reverse shells, encoded or downloaded commands and known miners, by cmdline."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

import re2

from smartcompute.detection.telemetry import Process
from smartcompute.detection.threat.findings import Finding, severity_rank

MINER_NAMES = frozenset(
    {
        "xmrig",
        "xmr-stak",
        "xmr-stak-rx",
        "xmr-stak-cpu",
        "minerd",
        "cpuminer",
        "cpuminer-multi",
        "cgminer",
        "bfgminer",
        "ethminer",
        "nbminer",
        "t-rex",
        "phoenixminer",
        "lolminer",
        "ccminer",
        "nanominer",
        "teamredminer",
        "gminer",
        "nheqminer",
        "srbminer",
        "srbminer-multi",
        "kdevtmpfsi",
        "kinsing",
    }
)


@dataclass(frozen=True)
class ProcessRule:
    rule_id: str
    severity: str
    description: str
    pattern: Any  # a compiled RE2 pattern (search, like re's)


def _rule(rule_id: str, severity: str, description: str, pattern: str) -> ProcessRule:
    # RE2, not re: these run on command lines customers send, and RE2 matches in time linear in their length,
    # where re backtracks (an 8 KB command line of "python socket " repeated held script_socket for 23 s).
    # Its \s, \w, \d and \b are ASCII, as the shells and Windows' argument parsing that run these commands are.
    return ProcessRule(rule_id, severity, description, re2.compile("(?i)" + pattern))


_SHELL = r"(?:ba|z|da|k)?sh"
CMDLINE_RULES = (
    _rule(
        "reverse_shell.dev_tcp",
        "critical",
        "shell input/output redirected to a network socket",
        r"/dev/(?:tcp|udp)/[\w.\-]+/\d+",
    ),
    _rule(
        "reverse_shell.netcat_exec",
        "critical",
        "netcat runs a program for whoever connects",
        r"\b(?:nc|ncat|netcat)(?:\.exe)?\b[^|;]*\s-(?:e|c)\s",
    ),
    _rule(
        "reverse_shell.fifo_pipe",
        "critical",
        "named pipe wires a shell to a network tool",
        r"mkfifo\b.*\b(?:nc|ncat|netcat|telnet|openssl)\b",
    ),
    _rule("reverse_shell.socat_exec", "critical", "socat executes a program on a socket", r"\bsocat\b.*\bexec:"),
    _rule(
        "reverse_shell.script_socket",
        "critical",
        "script interpreter connects a socket to a shell",
        r"\b(?:python[\d.]*|perl|ruby|php)\b.*socket.*(?:pty\.spawn|subprocess|os\.dup2|fsockopen|exec|/bin/"
        + _SHELL
        + r")",
    ),
    _rule(
        "encoded_command.powershell",
        "high",
        "PowerShell runs a base64-encoded command",
        r"\b(?:powershell|pwsh)(?:\.exe)?\b.*\s[-/]e(?:c|n[a-z]*)?\s+[A-Za-z0-9+/=]{16,}",
    ),
    _rule(
        "encoded_command.base64_shell",
        "high",
        "base64 text is decoded and piped into a shell",
        r"base64\s+(?:-d|--decode|-D)\b.*\|\s*" + _SHELL + r"\b|frombase64string",
    ),
    _rule(
        "download_execute.pipe_to_shell",
        "high",
        "a download is piped straight into a shell",
        r"\b(?:curl|wget)\b[^|]*\|\s*(?:sudo\s+)?" + _SHELL + r"\b",
    ),
    _rule(
        "download_execute.powershell",
        "high",
        "PowerShell downloads and evaluates code",
        r"(?:\biex\b|invoke-expression).*(?:downloadstring|net\.webclient|invoke-webrequest|\biwr\b)"
        r"|(?:downloadstring|net\.webclient).*(?:\biex\b|invoke-expression)",
    ),
    _rule(
        "powershell.hidden_window",
        "medium",
        "PowerShell started with a hidden window",
        r"\b(?:powershell|pwsh)(?:\.exe)?\b.*\s-w(?:indowstyle)?\s+hidden\b",
    ),
    _rule(
        "miner.stratum_url",
        "high",
        "command line names a mining pool (stratum URL)",
        r"stratum\d?\+(?:tcp|ssl|tls)://\S+",
    ),
    _rule(
        "miner.options",
        "medium",
        "command line carries cryptocurrency-miner options",
        r"--donate-level\b|--randomx\b|\b(?:randomx|cryptonight)\b|\s-a\s+(?:rx/0|cn/\S+)\b",
    ),
    _rule(
        "world_writable_exec",
        "low",
        "program runs from a world-writable directory",
        r"^\s*(?:/tmp|/dev/shm|/var/tmp)/\S+",
    ),
)

# Matched on the executable's name rather than a cmdline pattern; see match_process.
_MINER_NAME_RULE = ProcessRule(
    "miner.known_name", "medium", "process name is a known cryptocurrency miner", re2.compile(r"$^")
)

_CONFIDENCE = {"low": 0.4, "medium": 0.7, "high": 0.85, "critical": 0.9}
_RECOMMENDATION = {
    "reverse_shell": "Isolate the host, kill the process and trace how it was started (parent process, "
    "cron, web server logs); treat the peer address as hostile.",
    "encoded_command": "Decode and review the command, kill the process if it is not an approved script, "
    "and review PowerShell/script logging for its origin.",
    "download_execute": "Block the download source, capture the fetched script for analysis and check "
    "what it changed on the host.",
    "miner": "Kill the miner, remove its binary and persistence (cron, systemd, startup items), and rotate "
    "credentials used to install it.",
    "powershell": "Check which user and parent process launched hidden PowerShell and whether it is approved.",
    "world_writable_exec": "Verify the binary: legitimate software rarely runs from /tmp or /dev/shm.",
}
_MAX_CMDLINE = 400


@dataclass(frozen=True)
class RuleMatch:
    rule: ProcessRule
    matched_text: str


def match_process(name: str, cmdline: str) -> list[RuleMatch]:
    matches = [
        RuleMatch(rule, found.group(0)[:200]) for rule in CMDLINE_RULES if (found := rule.pattern.search(cmdline))
    ]
    if executable_name(name) in MINER_NAMES or executable_name(cmdline.split(" ", 1)[0]) in MINER_NAMES:
        matches.append(RuleMatch(_MINER_NAME_RULE, name))
    return matches


def executable_name(path: str) -> str:
    base = re.split(r"[\\/]", path.strip())[-1].lower()
    return base[:-4] if base.endswith(".exe") else base


def is_miner_match(match: RuleMatch) -> bool:
    return match.rule.rule_id.startswith("miner.")


def detect_suspicious_processes(processes: tuple[Process, ...]) -> list[Finding]:
    """One finding per distinct (name, cmdline) that any rule matches."""
    samples: dict[tuple[str, str], list[Process]] = {}
    for process in processes:
        samples.setdefault((process.name, process.cmdline), []).append(process)
    findings = []
    for (name, cmdline), seen in samples.items():
        matches = match_process(name, cmdline)
        if matches:
            findings.append(_process_finding(name, cmdline, seen, matches))
    return findings


def _process_finding(name: str, cmdline: str, seen: list[Process], matches: list[RuleMatch]) -> Finding:
    severity = max((m.rule.severity for m in matches), key=severity_rank)
    confidence = min(0.98, _CONFIDENCE[severity] + 0.05 * (len(matches) - 1))
    evidence = {
        "name": name,
        "cmdline": cmdline[:_MAX_CMDLINE],
        "users": sorted({p.user for p in seen if p.user}),
        "samples": len(seen),
        "max_cpu_percent": max(p.cpu_percent for p in seen),
        "max_memory_percent": max(p.memory_percent for p in seen),
        "indicators": [
            {"rule": m.rule.rule_id, "description": m.rule.description, "matched": m.matched_text} for m in matches
        ],
    }
    decoded = decode_powershell_command(cmdline)
    if decoded:
        evidence["decoded_command"] = decoded
    families = [m.rule.rule_id.split(".")[0] for m in matches]
    worst = families[[m.rule.severity for m in matches].index(severity)]
    return Finding(
        category="suspicious_process",
        severity=severity,
        confidence=confidence,
        start=seen[0].timestamp,
        end=seen[-1].timestamp,
        summary=f"process {name!r}: {'; '.join(dict.fromkeys(m.rule.description for m in matches))}",
        evidence=evidence,
        recommendation=_RECOMMENDATION[worst],
        indicators=tuple(m.rule.rule_id for m in matches),
    )


_ENCODED_ARGUMENT = re.compile(r"\s[-/]e(?:c|n[a-z]*)?\s+([A-Za-z0-9+/=]{16,})", re.IGNORECASE)


def decode_powershell_command(cmdline: str) -> str | None:
    """PowerShell's -EncodedCommand is base64 of UTF-16LE; showing it saves the analyst a step."""
    if not re.search(r"\b(?:powershell|pwsh)", cmdline, re.IGNORECASE):
        return None
    found = _ENCODED_ARGUMENT.search(cmdline)
    if not found:
        return None
    try:
        raw = base64.b64decode(found.group(1), validate=True)
        return raw.decode("utf-16-le", errors="replace")[:_MAX_CMDLINE]
    except (binascii.Error, ValueError):
        return None
