"""taskbeacon: operator CLI, local mode and ECS metadata emulator for the taskbeacon task inventory."""

__version__ = "0.1.0"
