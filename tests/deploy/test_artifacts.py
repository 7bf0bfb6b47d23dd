"""The image, the Compose file, the Kubernetes manifests, the Prometheus rules and the Grafana dashboard, checked
without a Docker engine or a cluster: by the tools operators would run (docker compose config, hadolint,
kubernetes-validate, promtool) and against what the service really runs and exports."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from honcho.environ import parse_procfile

from config import Settings
from tests.support import REPO

DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
PROCESSES = {"release", "web", "worker-core", "worker-payments", "flower"}
COMPOSE_ENV = {
    "POSTGRES_PASSWORD": "p",
    "RABBITMQ_PASSWORD": "r",
    "SECRET_KEY": "s" * 32,
    "JWT_SECRET_KEY": "j" * 32,
    "VAULT_TOKEN": "t",
    "METRICS_BASIC_AUTH": "prometheus:m",
    "FLOWER_BASIC_AUTH": "ops:f",
    "METRICS_PASSWORD": "m",
    "FLOWER_PASSWORD": "f",
}


def procfile() -> dict[str, str]:
    return dict(parse_procfile((REPO / "Procfile").read_text()).processes)


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    finished = subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished


# --- the image ----------------------------------------------------------------------------------------------


def test_the_dockerfile_passes_hadolint():
    run([str(BIN / "hadolint"), str(REPO / "Dockerfile")])


def test_the_image_runs_as_an_unprivileged_user_with_a_healthcheck():
    final_stage = (REPO / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER 10001", final_stage, re.M) and "HEALTHCHECK" in final_stage
    assert "gcc" not in final_stage and "build-essential" not in final_stage


def test_the_entry_point_runs_a_procfile_process_by_name_and_anything_else_as_given(tmp_path):
    entry_point = str(DEPLOY / "container" / "run-process")
    (tmp_path / "Procfile").write_text('web: echo "serving on ${PORT:-8000}"\nworker-core: echo core\n')
    env = {**os.environ, "PROCFILE": str(tmp_path / "Procfile"), "PORT": "9000"}
    assert run([entry_point, "web"], env=env).stdout == "serving on 9000\n"
    assert run([entry_point, "echo", "as", "given"], env=env).stdout == "as given\n"


# --- Compose ------------------------------------------------------------------------------------------------


def compose_command() -> list[str]:
    """`docker compose`, with the compose binary of the test extra as the CLI's plugin; where no docker CLI is
    installed, the same binary on its own (it is the plugin)."""
    plugin = BIN / "docker-compose"
    if shutil.which("docker") is None:
        return [str(plugin)]
    return ["docker", "compose"]


@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> dict:
    config = tmp_path_factory.mktemp("docker")
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(BIN / "docker-compose")
    env = {**os.environ, **COMPOSE_ENV, "DOCKER_CONFIG": str(config)}
    args = [*compose_command(), "-f", str(DEPLOY / "compose.yaml"), "--profile", "observability"]
    run([*args, "config", "--quiet"], env=env)
    return json.loads(run([*args, "config", "--format", "json"], env=env).stdout)


def test_compose_runs_every_procfile_process_and_a_single_scheduler(compose):
    services = compose["services"]
    by_name = {name: service["command"] for name, service in services.items() if service.get("command")}
    assert {by_name[name][0] for name in PROCESSES} == PROCESSES
    assert set(procfile()) >= PROCESSES
    assert by_name["scheduler"][:4] == ["celery", "-A", "workers", "beat"]
    assert services["release"]["restart"] == "no"
    assert services["web"]["depends_on"]["release"]["condition"] == "service_completed_successfully"


def test_compose_keeps_the_four_zones_apart(compose):
    networks = {name: set(service["networks"]) for name, service in compose["services"].items()}
    assert networks["nginx"] == {"public", "api"}
    assert networks["web"] == {"api", "internal"}
    assert networks["worker-core"] == networks["scheduler"] == {"internal"}
    assert networks["worker-payments"] == {"isolated"}
    assert "isolated" in networks["postgres"] and "isolated" in networks["rabbitmq"]
    assert "openbao" in {name for name, nets in networks.items() if "isolated" in nets}
    assert not networks["openbao"] & networks["worker-core"]
    assert compose["networks"]["isolated"]["internal"] and compose["networks"]["api"]["internal"]
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {"nginx", "grafana"}
    assert all(port["host_ip"] == "127.0.0.1" for port in compose["services"]["grafana"]["ports"])
    assert "FLOWER_BASIC_AUTH" in compose["services"]["flower"]["environment"]
    assert "VAULT_TOKEN" not in compose["services"]["worker-core"]["environment"]


# --- Kubernetes ----------------------------------------------------------------------------------------------


def manifests() -> list[dict]:
    return [
        document
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def test_the_kubernetes_manifests_validate_against_the_kubernetes_schemas():
    core = [str(path) for path in sorted((DEPLOY / "k8s").glob("*.yaml")) if path.name != "autoscaling.yaml"]
    finished = run([str(BIN / "kubernetes-validate"), "--strict", "--quiet", *core])
    assert "ERROR" not in finished.stdout + finished.stderr


def test_kustomize_applies_every_manifest_and_the_edge_template():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {f"k8s/{path.name}" for path in (DEPLOY / "k8s").glob("*.yaml")}
    [generated] = kustomization["configMapGenerator"]
    assert generated["files"] == ["nginx/templates/smartcompute.conf.template"]


def deployments() -> dict[str, dict]:
    return {document["metadata"]["name"]: document for document in manifests() if document["kind"] == "Deployment"}


def test_every_process_has_a_deployment_and_release_is_a_job():
    found = deployments()
    assert set(found) == {"web", "worker-core", "worker-payments", "flower", "scheduler", "edge"}
    for name in PROCESSES - {"release"}:
        assert found[name]["spec"]["template"]["spec"]["containers"][0]["args"] == [name]
    assert found["scheduler"]["spec"]["replicas"] == 1
    assert found["scheduler"]["spec"]["template"]["spec"]["containers"][0]["args"][:4] == [
        "celery",
        "-A",
        "workers",
        "beat",
    ]
    [job] = [document for document in manifests() if document["kind"] == "Job"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["release"]


def test_pods_have_resources_probes_and_a_grace_period_longer_than_a_job():
    hard_limit = Settings.from_mapping(
        {
            "DATABASE_URL": "postgresql://x/y",
            "REDIS_URL": "redis://x",
            "SECRET_KEY": "s" * 16,
            "JWT_SECRET_KEY": "j" * 32,
        }
    ).JOB_HARD_TIME_LIMIT
    for name, deployment in deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"], name
        assert pod["securityContext"]["runAsNonRoot"], name
        if name in {"worker-core", "worker-payments"}:
            assert pod["terminationGracePeriodSeconds"] > hard_limit
    web = deployments()["web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["livenessProbe"]["httpGet"]["path"] == "/health"
    assert web["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    budgets = {document["metadata"]["name"] for document in manifests() if document["kind"] == "PodDisruptionBudget"}
    assert budgets >= {"web", "worker-core", "edge"}


def test_every_pod_is_denied_by_default_and_the_payment_worker_reaches_only_its_three_services():
    policies = {
        document["metadata"]["name"]: document["spec"]
        for document in manifests()
        if document["kind"] == "NetworkPolicy"
    }
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for name in deployments():
        assert name in policies, f"{name} has no policy of its own"
    reached = [
        peer["podSelector"]["matchLabels"]["smartcompute.io/service"]
        for rule in policies["worker-payments"]["egress"]
        for peer in rule["to"]
    ]
    assert sorted(reached) == ["postgres", "rabbitmq", "secret-store"]
    readers = [
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for rule in policies["secret-store"]["ingress"]
        for peer in rule["from"]
    ]
    assert sorted(readers) == ["web", "worker-payments"]


def test_core_workers_scale_on_their_queue():
    [scaled] = [document for document in manifests() if document["kind"] == "ScaledObject"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "worker-core"
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq" and trigger["metadata"]["queueName"] == "core-analysis"


# --- Prometheus and Grafana -------------------------------------------------------------------------------

PROMETHEUS = DEPLOY / "prometheus"


def test_the_prometheus_configuration_and_rules_pass_promtool():
    run(["promtool", "check", "config", "prometheus.yml"], cwd=PROMETHEUS)
    run(["promtool", "check", "rules", "rules/smartcompute.yml"], cwd=PROMETHEUS)


def test_the_alerting_rules_fire_when_their_unit_tests_say():
    run(["promtool", "test", "rules", "tests/smartcompute.test.yml"], cwd=PROMETHEUS)


def test_every_alert_has_a_duration_a_severity_and_a_runbook():
    rules = yaml.safe_load((PROMETHEUS / "rules" / "smartcompute.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    assert len(alerts) >= 8
    for alert in alerts:
        assert (
            "for" in alert
            and alert["labels"]["severity"] in {"warning", "critical"}
            and alert["annotations"]["runbook"]
        )


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "smartcompute.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def exported_metrics(app_with_metrics) -> set[str]:
    """Every sample name the API's /metrics and Flower's /metrics give, and Prometheus' own `up`."""
    from flower.events import get_prometheus_metrics
    from prometheus_client import REGISTRY

    get_prometheus_metrics()  # Flower's metrics, registered as Flower's /metrics registers them

    credentials = base64.b64encode(b"prometheus:secret").decode()
    client = app_with_metrics.test_client()
    client.get("/health")
    text = client.get("/metrics", headers={"Authorization": f"Basic {credentials}"}).get_data(as_text=True)
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    names |= {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    for family in REGISTRY.collect():
        names |= {family.name, *(f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_sum", "_count"))}
    return names | {"up"}


@pytest.fixture
def app_with_metrics(settings):

    from web import create_app

    return create_app(settings.model_copy(update={"METRICS_BASIC_AUTH": "prometheus:secret"}))


PROMQL_WORDS = {
    "sum",
    "max",
    "min",
    "avg",
    "by",
    "without",
    "rate",
    "histogram_quantile",
    "le",
    "on",
    "and",
    "or",
    "count",
    "increase",
    "delta",
    "absent",
}


def test_every_dashboard_query_is_valid_promql_naming_metrics_the_service_exports(app_with_metrics, tmp_path):
    queries = dashboard_queries()
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{index}", "expr": query.replace("$__rate_interval", "5m")}
                    for index, query in enumerate(queries)
                ],
            }
        ]
    }
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(rules))
    run(["promtool", "check", "rules", str(tmp_path / "dashboard.yml")])
    exported = exported_metrics(app_with_metrics)
    for query in queries:
        unquoted = re.sub(r'"[^"]*"|\{[^}]*\}|\[[^\]]*\]', " ", query)
        names = {word for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", unquoted)} - PROMQL_WORDS
        names = {name for name in names if not re.fullmatch(r"[a-z]+", name) or name == "up"}
        assert names and names <= exported, f"{query}: {names - exported}"
