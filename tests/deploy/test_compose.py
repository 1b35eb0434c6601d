"""deploy/compose.yaml against the Compose Specification's JSON schema, and its .env example.

The schema (schemas/compose-spec.json) is vendored: no package on PyPI carries it. It is
schema/compose-spec.json of github.com/compose-spec/compose-spec (Apache-2.0), commit
170098ba07d9f53c383a41bfd4c5166b0a4529a6 (2026-06-23); schemas/README.md lists every
vendored schema.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from .deploy_files import (
    COMPOSE,
    ENV_EXAMPLE,
    SCHEMAS,
    compose_raw,
    compose_resolved,
    env_file,
    variables_used,
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_the_compose_file_is_valid_against_the_compose_specification(
    validator: jsonschema.Draft7Validator,
) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(compose_resolved())
    ]
    assert errors == []


def test_the_schema_check_catches_a_misspelt_key(validator: jsonschema.Draft7Validator) -> None:
    broken: dict[str, Any] = compose_resolved()
    broken["services"]["worker"]["stop_grace_periods"] = "60s"
    assert not validator.is_valid(broken)


def test_every_variable_the_compose_file_needs_is_in_the_env_example() -> None:
    example = env_file()
    for name, op in variables_used(COMPOSE.read_text()).items():
        # Required ones (`:?`) must be in the example; the others have a default in compose.yaml.
        assert op is not None or name in example, (
            f"${{{name}}} has no default and is not in {ENV_EXAMPLE.name}"
        )
        if op == ":?":
            assert name in example, name


def test_one_variable_switches_between_the_real_model_and_the_tiny_weights() -> None:
    services = compose_resolved()["services"]
    assert env_file()["PIXELRUN_WEIGHTS"] == "Qwen/Qwen-Image-Edit-2511"
    # The GPU worker takes PIXELRUN_WEIGHTS from .env (tiny: PIXELRUN_WEIGHTS=tiny); the CPU
    # profile, for machines without a GPU, is always on the tiny weights.
    assert "PIXELRUN_WEIGHTS" not in services["worker"]["environment"]
    assert services["worker-cpu"]["environment"]["PIXELRUN_WEIGHTS"] == "tiny"
    assert services["worker"]["profiles"] == ["gpu"] and services["worker-cpu"]["profiles"] == ["cpu"]
    assert env_file()["COMPOSE_PROFILES"] == "gpu"


def test_the_stack_shares_one_store_and_one_bucket_and_a_worker_gets_a_gpu() -> None:
    services = compose_resolved()["services"]
    pixelrun = [name for name, service in services.items() if service.get("image") == "pixelrun:latest"]
    assert sorted(pixelrun) == ["api", "worker", "worker-cpu"]
    shared = {"PIXELRUN_DATABASE_URL", "PIXELRUN_STORAGE_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID"}
    values = {name: {k: services[name]["environment"][k] for k in shared} for name in pixelrun}
    assert values["api"] == values["worker"] == values["worker-cpu"]
    assert values["api"]["PIXELRUN_DATABASE_URL"] == "postgresql://pixelrun:pw1@postgres:5432/pixelrun"
    bucket = values["api"]["PIXELRUN_STORAGE_URL"].removeprefix("s3://")
    assert services["bucket"]["entrypoint"][-1] == f"minio/{bucket}"
    (device,) = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert device == {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}
    for name in pixelrun:
        assert services[name]["depends_on"]["bucket"]["condition"] == "service_completed_successfully"
    raw = compose_raw()["services"]
    assert raw["worker"]["healthcheck"] == {"disable": True}  # no HTTP port in a worker
