"""checkov (an infrastructure linter that runs offline) passes on the Dockerfile and the
Kubernetes manifests; each check they skip says why, beside it.

checkov lives in its own virtual environment (`make tools`: .tools/checkov): its pinned
dependencies (boto3, networkx, packaging) conflict with the project's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .deploy_files import KUBERNETES, ROOT, kubernetes_documents

CHECKOV = Path(os.environ.get("PIXELRUN_TEST_CHECKOV", ROOT / ".tools" / "checkov" / "bin" / "checkov"))


def checkov(*args: str) -> list[dict[str, Any]]:
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV}: run `make tools`", pytrace=False)
    # --skip-download: no call home (doc links, severities); the checks themselves are local.
    result = subprocess.run(
        [str(CHECKOV), "--skip-download", "--output", "json", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def test_checkov_passes_on_the_dockerfile_and_the_kubernetes_manifests() -> None:
    reports = checkov("--framework", "kubernetes", "-d", str(KUBERNETES.relative_to(ROOT)))
    reports += checkov("--framework", "dockerfile", "-f", "Dockerfile")
    failed = [
        f"{check['check_id']} {check['file_path']}: {check['check_name']}"
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    ran = {report["check_type"]: report["summary"]["passed"] for report in reports}
    assert ran["kubernetes"] > 100 and ran["dockerfile"] > 10, ran


def test_every_skipped_check_says_why_beside_it() -> None:
    skips = [
        value
        for _, doc in kubernetes_documents()
        for key, value in doc["metadata"].get("annotations", {}).items()
        if key.startswith("checkov.io/skip")
    ]
    skips += re.findall(r"^# checkov:skip=(.*)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert skips
    for skip in skips:
        check, reason = re.split(r"[=:]", skip, maxsplit=1)
        assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", check) and len(reason.strip()) > 30, skip
