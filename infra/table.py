"""The inventory table. Key and TTL names come from lambdas/core/store/schema.py (one source of truth)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.paths import schema


class InventoryTable(Construct):
    """One on-demand table; index entries are items in it, so there is no GSI."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            # No physical name: a RETAINed table with a fixed name would block re-creating the stack.
            partition_key=dynamodb.Attribute(name=schema.PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=schema.SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=schema.TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # The indexer derives index entries and counters from each record's old and new image.
            stream=dynamodb.StreamViewType(schema.STREAM_VIEW_TYPE),
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
