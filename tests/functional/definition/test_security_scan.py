"""checkov, a policy scanner platform teams run, on both templates: no failed check. Suppressions live
in each resource's Metadata with their reason (template.yaml); this test also checks every one has one.

checkov pins an old boto3, so it lives in its own virtualenv (`make install` creates .venv/tools/checkov);
RADSTREAM_CHECKOV points at another binary.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from radstream.definition import template as cfn

ROOT = Path(__file__).resolve().parents[3]
DEFINITION = Path(cfn.__file__).parent


def checkov_binary() -> str:
    candidates = [os.environ.get("RADSTREAM_CHECKOV"), str(ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"),
                  shutil.which("checkov")]
    for candidate in filter(None, candidates):
        if Path(candidate).exists():
            return candidate
    pytest.fail("checkov is not installed: run `make install` (it creates .venv/tools/checkov) "
                "or set RADSTREAM_CHECKOV to a checkov binary")


@pytest.mark.parametrize("name", [cfn.STACK_TEMPLATE, cfn.BOOTSTRAP_TEMPLATE])
def test_checkov_finds_nothing(name, tmp_path):
    # A copy under a neutral path: checkov 3.3 feeds the file's path to its secrets check (CKV_AWS_45) as if
    # it were an environment variable, and some checkout paths (e.g. .../wt-faults/src/radstream/definition/)
    # read as a secret. --skip-download: no call to the vendor's platform (no network here, nor in CI).
    scanned = tmp_path / name
    shutil.copyfile(DEFINITION / name, scanned)
    run = subprocess.run([checkov_binary(), "-f", str(scanned), "--framework", "cloudformation",
                          "--skip-download", "--quiet", "--compact", "-o", "json"],
                         capture_output=True, text=True, timeout=300)
    report = json.loads(run.stdout)
    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in report.get("results", {}).get("failed_checks", [])]
    assert failed == [] and report["summary"]["parsing_errors"] == 0, failed
    assert report["summary"]["passed"] > 0


@pytest.mark.parametrize("loader", [cfn.stack_template, cfn.bootstrap_template])
def test_every_suppression_says_why(loader):
    for logical_id, resource in loader()["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, (logical_id, skip["id"])
