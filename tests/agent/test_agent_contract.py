"""Every envelope the agent builds is accepted by the server's envelope model (DESIGN 3.2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.model import envelope as model
from taskbeacon_agent import envelope, sources


def _collected(fixtures: Path) -> list[sources.Collected]:
    load = lambda name: json.loads((fixtures / name).read_text())  # noqa: E731
    return [
        sources.Collected(
            "tmde-v4",
            task=load("v4-task-ec2-awsvpc.json"),
            container=load("v4-container-ec2-awsvpc.json"),
            stats=load("v4-task-stats-managed-instances-cgroupv2-no-network.json"),
        ),
        sources.Collected("tmde-v3", task=load("v3-task-ec2-awsvpc.json")),
        sources.Collected("tmde-v2", task=load("v2-taskwithtags-ec2-awsvpc.json")),
        sources.Collected("metadata-file", task=load("metadata-file-ready-bridge.json")),
        sources.Collected("introspection", tasks=load("introspection-v1-tasks.json")["Tasks"]),
    ]


@pytest.mark.parametrize("mode", ["once", "exec", "sidecar", "daemon"])
def test_server_model_accepts_agent_envelopes(fixtures_dir: Path, mode: str) -> None:
    builder = envelope.EnvelopeBuilder(mode)
    for reason in envelope.REASONS:
        for collected in _collected(fixtures_dir):
            body = envelope.encode(builder.build(collected, reason))
            parsed = model.Envelope.model_validate_json(body)
            assert parsed.source == collected.source and parsed.reason == reason
