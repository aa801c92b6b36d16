"""The API's vocabulary as the CLI sends it: the CLI ships without the server code, so it keeps
its own copy, pinned to the one definition (lambdas/core/vocabulary.py and the modules it names) by
tests/cli/test_cli_vocabulary.py. The parser offers these values and the commands check them."""

from __future__ import annotations

SUMMARY_BY = (
    "cluster",
    "service",
    "family",
    "image",
    "availabilityZone",
    "launchType",
    "status",
    "accountId",
)
# `--by` of `summary --drifted`: the drifted entries the API counts from hold neither the status nor the
# images a task may change (pinned to the server's DRIFTED_SUMMARY_DIMENSIONS by tests/cli).
DRIFTED_SUMMARY_BY = tuple(by for by in SUMMARY_BY if by not in ("image", "status"))
# ECS enums the list and search filters take (pinned to the server's definitions by tests/cli).
STATUSES = (
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
)
LAUNCH_TYPES = ("EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES")
