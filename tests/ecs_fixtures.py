"""Where the recorded ECS payloads live (copied verbatim from public sources; see its README)."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ecs"
