"""`taskbeacon emulate`: ECS task metadata (v2/v3/v4), metadata file, introspection and container
credentials for simulated tasks, on one loopback port."""

from taskbeacon.emulator.credentials import fake_credentials, profile_provider
from taskbeacon.emulator.docs import make_container_stats, make_task_doc
from taskbeacon.emulator.examples import EXAMPLES, example
from taskbeacon.emulator.server import Emulator, SimulatedTask

__all__ = [
    "EXAMPLES",
    "Emulator",
    "SimulatedTask",
    "example",
    "fake_credentials",
    "make_container_stats",
    "make_task_doc",
    "profile_provider",
]
