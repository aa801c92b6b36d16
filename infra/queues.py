"""The one shape of taskbeacon's queues: encrypted (SQS-managed keys), TLS only, kept 14 days.

Every queue here holds something for a human to look at or redrive (undelivered events, index
batches given up on, tasks stopped by an image pull), so each keeps its messages as long as SQS
allows, and is free at rest.
"""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_sqs as sqs
from constructs import Construct

RETENTION: Final = cdk.Duration.days(14)  # SQS's maximum: time to notice and redrive


def held_queue(
    scope: Construct, construct_id: str, *, removal_policy: cdk.RemovalPolicy | None = None
) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=RETENTION,
        removal_policy=removal_policy,
    )
