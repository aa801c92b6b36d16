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


def test_cfn_lint_reports_no_errors(any_synth: Synth) -> None:
    matches = lint_all(json.dumps(any_synth.raw))
    errors = [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id.startswith("E")]
    assert errors == []


def test_stack_is_environment_agnostic(default_synth: Synth) -> None:
    assert cdk.Token.is_unresolved(default_synth.stack.account)
    assert cdk.Token.is_unresolved(default_synth.stack.region)
