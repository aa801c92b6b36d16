"""taskbeacon-agent: reports an ECS task's own metadata to taskbeacon (standard library only)."""

__version__ = "0.1.0"
