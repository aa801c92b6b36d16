"""The normalized data model: what every source and event becomes, and what queries return."""

from core.model.task import Container, Network, Observation, Task

__all__ = ["Container", "Network", "Observation", "Task"]
