"""The two gates on the synthesized app: cdk-nag AwsSolutions (in synth) and cfn-lint."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from cfnlint.api import lint_all
from infra_synth import NO_BUNDLING, Synth

from infra.application import build_app
from infra.nag import acknowledged_ids

pytestmark = pytest.mark.cdk


def test_nag_passes_with_acknowledgments_only(any_synth: Synth) -> None:
    # The fixture synthesized through build_app (the function app.py calls), with the
    # AwsSolutions plugin registered: reaching here means no unacknowledged error.
    ids = acknowledged_ids(any_synth.stack)
    assert "AwsSolutions-COG4" in ids
    assert all(i.startswith("AwsSolutions-") for i in ids)


def test_nag_gate_fails_on_a_new_finding(tmp_path: Path) -> None:
    built = build_app(context=NO_BUNDLING, outdir=str(tmp_path))
    # A queue without enforced TLS: AwsSolutions-SQS4, which nothing acknowledges.
    sqs.Queue(built.stack, "Unsafe", encryption=sqs.QueueEncryption.SQS_MANAGED)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        built.app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert "AwsSolutions-SQS4" in rules
    assert "AwsSolutions-COG4" not in rules  # acknowledged findings stay quiet


@pytest.mark.parametrize("which", ["central", "member"])
def test_cfn_lint_reports_no_errors(any_synth: Synth, which: str) -> None:
    """Both templates: the central stack (with the member StackSet in the full synth) and the member's."""
    template = any_synth.raw if which == "central" else any_synth.member_raw
    matches = lint_all(json.dumps(template))
    errors = [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id.startswith("E")]
    assert errors == []


def test_nag_checks_the_member_stack_too(tmp_path: Path) -> None:
    # The plugin is registered on the app, so the member stack goes through the same gate.
    built = build_app(context=NO_BUNDLING, outdir=str(tmp_path))
    sqs.Queue(built.member, "Unsafe", encryption=sqs.QueueEncryption.SQS_MANAGED)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        built.app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    violations = [v for p in report["pluginReports"] for v in p["violations"]]
    assert "AwsSolutions-SQS4" in {v["ruleName"] for v in violations}
    paths = {c["constructPath"] for v in violations for c in v["violatingConstructs"]}
    assert all(path.startswith(f"{built.member.stack_name}/") for path in paths)


def test_stack_is_environment_agnostic(default_synth: Synth) -> None:
    assert cdk.Token.is_unresolved(default_synth.stack.account)
    assert cdk.Token.is_unresolved(default_synth.stack.region)
