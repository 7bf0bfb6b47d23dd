"""The shipped nginx (deploy/nginx) as tests and benchmarks run it: a private instance on free ports of 127.0.0.1,
its template rendered the way the nginx image renders it (envsubst of the variables it names), with a throwaway
self-signed certificate."""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

from tests.support import REPO, accepts, free_port, stop_process_group, wait_until

TEMPLATE = REPO / "deploy" / "nginx" / "templates" / "smartcompute.conf.template"
# What the nginx image's own nginx.conf sets around the files it renders into conf.d/.
MAIN_CONFIG = """worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    default_type application/octet-stream;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/conf.d/*.conf;
}}
"""


def template_variables() -> set[str]:
    return set(re.findall(r"\$\{([A-Z0-9_]+)\}", TEMPLATE.read_text()))


def render(variables: dict[str, str]) -> str:
    """The template as the image's entrypoint renders it: envsubst, limited to the variables given."""
    names = " ".join(f"${{{name}}}" for name in variables)
    return subprocess.run(
        ["envsubst", names],
        input=TEMPLATE.read_text(),
        env={**os.environ, **variables},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@dataclass(frozen=True)
class Edge:
    https_port: int
    http_port: int
    flower_port: int
    process: subprocess.Popen
    directory: Path

    @property
    def url(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def certificate(self) -> str:
        return str(self.directory / "cert.pem")

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.certificate)

    def connect(self, *, timeout: float = 10, source: str = "127.0.0.1") -> ssl.SSLSocket:
        """A TLS connection to the API's server, from `source` (any 127.x address: nginx limits per address)."""
        raw = socket.create_connection(("127.0.0.1", self.https_port), timeout=timeout, source_address=(source, 0))
        return self.tls().wrap_socket(raw, server_hostname="localhost")

    def worker_pids(self) -> list[int]:
        from bench.procs import descendants

        return descendants(self.process.pid)

    def error_log(self) -> str:
        return (self.directory / "error.log").read_text(errors="replace")


def self_signed_certificate(directory: Path) -> None:
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(directory / "key.pem"),
            "-out",
            str(directory / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )


@contextmanager
def nginx_edge(api_port: int, *, flower_port: int | None = None, **settings: str) -> Iterator[Edge]:
    """nginx in front of the API on 127.0.0.1:api_port; `settings` override the template's variables."""
    if shutil.which("nginx") is None:
        raise AssertionError("nginx is not installed (.ci/run installs Debian's nginx)")
    # Not under pytest's private temporary directory: nginx's workers run as an unprivileged user and must reach it.
    directory = Path(tempfile.mkdtemp(prefix="smartcompute-nginx-"))
    directory.chmod(0o755)
    ports = {"NGINX_HTTPS_PORT": free_port(), "NGINX_HTTP_PORT": free_port(), "NGINX_FLOWER_PORT": free_port()}
    variables = {
        "API_UPSTREAM": f"127.0.0.1:{api_port}",
        "FLOWER_UPSTREAM": f"127.0.0.1:{flower_port or free_port()}",
        **{name: str(port) for name, port in ports.items()},
        "TLS_CERTIFICATE": str(directory / "cert.pem"),
        "TLS_CERTIFICATE_KEY": str(directory / "key.pem"),
        "MAX_CONTENT_LENGTH": str(10 * 1024 * 1024),
        "NGINX_CLIENT_TIMEOUT": "10s",
        "NGINX_REQUESTS_PER_SECOND": "100",
        "NGINX_REQUEST_BURST": "200",
        "NGINX_CONNECTIONS_PER_ADDRESS": "64",
        **settings,
    }
    process = None
    try:
        self_signed_certificate(directory)
        (directory / "conf.d").mkdir()
        (directory / "conf.d" / "smartcompute.conf").write_text(render(variables))
        (directory / "nginx.conf").write_text(MAIN_CONFIG.format(dir=directory))
        with open(directory / "stdout.log", "wb") as log:
            process = subprocess.Popen(
                [
                    "nginx",
                    "-p",
                    str(directory),
                    "-c",
                    str(directory / "nginx.conf"),
                    "-e",
                    str(directory / "error.log"),
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        edge = Edge(ports["NGINX_HTTPS_PORT"], ports["NGINX_HTTP_PORT"], ports["NGINX_FLOWER_PORT"], process, directory)
        wait_until(lambda: process.poll() is not None or accepts(edge.https_port), 20, "nginx to listen")
        assert process.poll() is None, f"nginx exited:\n{edge.error_log()}"
        yield edge
    finally:
        if process is not None:
            stop_process_group(process, grace=10)
        shutil.rmtree(directory, ignore_errors=True)
