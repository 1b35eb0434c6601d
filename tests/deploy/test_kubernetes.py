"""deploy/kubernetes/: every object is what its API server would accept, and the objects
fit together (selectors, names, ports, the scale target).

Built-in kinds are validated by the official `kubernetes` client's models (pydantic, extra
fields forbidden: a misspelt field fails). The custom resources (KEDA's ScaledObject, the
Prometheus Operator's ServiceMonitor) are checked against their CRDs' schemas, vendored in
schemas/ (see schemas/README.md), with unknown fields refused the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes.client
import pytest
import yaml

from .deploy_files import KUBERNETES, SCHEMAS, kubernetes_documents, kustomization, relative

CRDS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_scaledobjects.yaml",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
}
DOCUMENTS = kubernetes_documents()


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in DOCUMENTS if doc["kind"] == kind}


def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((SCHEMAS / CRDS[(api_version, kind)]).read_text())
    version = api_version.rsplit("/", 1)[-1]
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return served["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields a structural schema would prune: not in `properties` where nothing else is allowed."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key in schema["properties"]:
                found += unknown_fields(item, schema["properties"][key], f"{path}.{key}")
            elif not schema.get("additionalProperties"):
                found.append(f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{index}]")
    return found


@pytest.mark.parametrize(
    "path, doc", DOCUMENTS, ids=[f"{relative(p)}:{d['kind']}/{d['metadata']['name']}" for p, d in DOCUMENTS]
)
def test_each_object_is_valid_with_no_unknown_field(path: Path, doc: dict[str, Any]) -> None:
    key = (doc["apiVersion"], doc["kind"])
    if key in CRDS:
        schema = crd_schema(*key)
        jsonschema.Draft7Validator(schema).validate(doc)
        assert unknown_fields(doc, schema) == []
        return
    version = doc["apiVersion"].rsplit("/", 1)[-1]
    model = getattr(kubernetes.client, f"{version.capitalize()}{doc['kind']}")
    model.model_validate(doc)  # raises on a wrong type or an unknown field
    assert doc["metadata"]["namespace" if doc["kind"] != "Namespace" else "name"] == "pixelrun"


def test_a_misspelt_field_is_caught_in_both_kinds_of_object() -> None:
    deployment = yaml.safe_load((KUBERNETES / "worker-deployment.yaml").read_text())
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 120
    with pytest.raises(ValueError, match="terminationGracePeriod"):
        kubernetes.client.V1Deployment.model_validate(deployment)
    scaled = yaml.safe_load((KUBERNETES / "worker-scaledobject.yaml").read_text())
    scaled["spec"]["minReplicas"] = 0
    assert unknown_fields(scaled, crd_schema("keda.sh/v1alpha1", "ScaledObject")) == [".spec.minReplicas"]


def test_kustomization_lists_every_manifest_and_only_the_ingress_is_optional() -> None:
    listed = kustomization()["resources"]
    files = sorted(p.name for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted([*listed, "ingress.yaml"]) == files
    text = (KUBERNETES / "kustomization.yaml").read_text()
    assert "# - ingress.yaml" in text
    (image,) = kustomization()["images"]
    containers = [c for _, d in DOCUMENTS for c in _pod_spec(d).get("containers", [])]
    assert {c["image"].split(":")[0] for c in containers} == {image["name"]}


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.get("spec", {}).get("template", {}).get("spec", {})  # type: ignore[no-any-return]


def test_the_objects_refer_to_each_other_correctly() -> None:
    deployments, services = by_kind("Deployment"), by_kind("Service")
    api, worker = deployments["pixelrun-api"], deployments["pixelrun-worker"]
    for deployment in deployments.values():
        assert (
            deployment["spec"]["selector"]["matchLabels"].items()
            <= deployment["spec"]["template"]["metadata"]["labels"].items()
        )
    # Service -> API pods, on the container's named port; ServiceMonitor -> Service.
    service = services["pixelrun-api"]
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    port_names = {p["name"] for p in _pod_spec(api)["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    monitor = by_kind("ServiceMonitor")["pixelrun-api"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    # PDBs select the pods they protect.
    for pdb in by_kind("PodDisruptionBudget").values():
        assert any(
            pdb["spec"]["selector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"]
            for d in deployments.values()
        )
    # KEDA scales the worker Deployment, which starts at 0 and leaves the number to it.
    scaled = by_kind("ScaledObject")["pixelrun-worker"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "pixelrun-worker"
    assert scaled["spec"]["minReplicaCount"] == 0 and worker["spec"]["replicas"] == 0
    # ConfigMap, Secret and volume claims that pods name exist.
    names = {(d["kind"], d["metadata"]["name"]) for _, d in DOCUMENTS}
    for _, doc in DOCUMENTS:
        spec = _pod_spec(doc)
        for container in spec.get("containers", []):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in names
                if "secretRef" in source:
                    assert ("Secret", source["secretRef"]["name"]) in names
        for volume in spec.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in names


def test_workers_get_one_gpu_the_weights_and_time_to_give_a_run_back() -> None:
    worker = by_kind("Deployment")["pixelrun-worker"]
    spec = _pod_spec(worker)
    (container,) = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert spec["terminationGracePeriodSeconds"] >= 60
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/models"]["readOnly"] is True
    env = {e["name"]: e["value"] for e in container["env"]}
    job = by_kind("Job")["pixelrun-weights"]
    (download,) = _pod_spec(job)["containers"]
    assert download["args"][-1] == env["PIXELRUN_WEIGHTS"]  # the Job writes where workers read
    assert env["HF_HUB_OFFLINE"] == "1"
