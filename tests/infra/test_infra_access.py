"""Who may call which route: the resource policy for every combination of principalOrgId,
privateEndpoint and readerPrincipalArns (8 synths through build_app, so cdk-nag runs on each).

API Gateway with IAM auth allows a caller of the API's own account when its IAM policy *or* the
resource policy allows (and nothing denies); a caller of another account needs both. So: `*` may
only ever be allowed on POST /snapshots (and only for the organization), read routes are allowed
only to named readers, and the only Deny is the VPC-endpoint one (own-account IAM readers keep
working through the endpoints).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from infra_synth import Synth, synth

from core import vocabulary

pytestmark = pytest.mark.cdk

ORG = "o-abc123def456"
VPCES = ["vpce-0123456789abcdef0", "vpce-0fedcba9876543210"]
READERS = ["444455556666", "arn:aws:iam::777788889999:role/inventory-reader"]
READ_RESOURCES = [
    "execute-api:/v1/GET/tasks",
    "execute-api:/v1/GET/tasks/*",
    "execute-api:/v1/GET/tasks/*/history",
    "execute-api:/v1/GET/search",
    "execute-api:/v1/GET/summary",
    "execute-api:/v1/GET/coverage",
    "execute-api:/v1/GET/openapi.json",
]
OWN_ACCOUNT_ROOT = {
    "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]
}
COMBINATIONS = list(itertools.product([False, True], repeat=3))  # (org, private, readers)


def _combo_id(combo: tuple[bool, bool, bool]) -> str:
    return "org{}-private{}-readers{}".format(*map(int, combo))


def _context(org: bool, private: bool, readers: bool) -> dict[str, Any]:
    context: dict[str, Any] = {"taskbeacon:stackName": f"Access{int(org)}{int(private)}{int(readers)}"}
    if org:
        context["taskbeacon:principalOrgId"] = ORG
    if private:
        context["taskbeacon:privateEndpoint"] = True
        context["taskbeacon:vpcEndpointIds"] = VPCES
    if readers:
        context["taskbeacon:readerPrincipalArns"] = READERS
    return context


@pytest.fixture(scope="module")
def synths(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[bool, bool, bool], Synth]:
    return {combo: synth(_context(*combo), Path(tmp_path_factory.mktemp("access"))) for combo in COMBINATIONS}


def _expected_statements(org: bool, private: bool, readers: bool) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    if private:
        statements.append(
            {
                "Sid": "OnlyThroughVpcEndpoints",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "execute-api:Invoke",
                "Resource": "execute-api:/*",
                "Condition": {"StringNotEquals": {"aws:SourceVpce": VPCES}},
            }
        )
        # A private API refuses every call until its policy grants access: the own account, through
        # the endpoints, delegated to its IAM (an account principal, never "*").
        statements.append(
            {
                "Sid": "OwnAccountThroughVpcEndpoints",
                "Effect": "Allow",
                "Principal": {"AWS": OWN_ACCOUNT_ROOT},
                "Action": "execute-api:Invoke",
                "Resource": "execute-api:/*",
                "Condition": {"StringEquals": {"aws:SourceVpce": VPCES}},
            }
        )
    if org:
        statements.append(
            {
                "Sid": "OrganizationPostsSnapshots",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "execute-api:Invoke",
                "Resource": "execute-api:/v1/POST/snapshots",
                "Condition": {
                    "StringEquals": {"aws:PrincipalOrgID": ORG},
                    "StringNotEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}},
                },
            }
        )
    if readers:
        statements.append(
            {
                "Sid": "NamedReaders",
                "Effect": "Allow",
                "Principal": {
                    "AWS": [
                        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::444455556666:root"]]},
                        "arn:aws:iam::777788889999:role/inventory-reader",
                    ]
                },
                "Action": "execute-api:Invoke",
                "Resource": READ_RESOURCES,
            }
        )
    return statements


def _api(synth_result: Synth) -> dict[str, Any]:
    (api,) = synth_result.resources("AWS::ApiGateway::RestApi").values()
    return dict(api["Properties"])


@pytest.mark.parametrize("combo", COMBINATIONS, ids=_combo_id)
def test_resource_policy_for_every_combination(
    synths: dict[tuple[bool, bool, bool], Synth], combo: tuple[bool, bool, bool]
) -> None:
    props = _api(synths[combo])
    expected = _expected_statements(*combo)
    if not expected:
        # Nothing to add beyond the own account's IAM: no resource policy at all.
        assert "Policy" not in props
    else:
        assert props["Policy"] == {"Version": "2012-10-17", "Statement": expected}
    if combo[1]:  # private
        assert props["EndpointConfiguration"] == {"Types": ["PRIVATE"], "VpcEndpointIds": VPCES}
    else:
        assert props["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


@pytest.mark.parametrize("combo", COMBINATIONS, ids=_combo_id)
def test_no_one_reads_by_the_resource_policy_unless_named(
    synths: dict[tuple[bool, bool, bool], Synth], combo: tuple[bool, bool, bool]
) -> None:
    """Property form of the rules above, independent of statement order and naming."""
    statements = _api(synths[combo]).get("Policy", {}).get("Statement", [])
    for statement in statements:
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if statement["Effect"] == "Deny":
            # The only Deny: requests not arriving through the listed VPC endpoints.
            assert set(statement["Condition"]) == {"StringNotEquals"}
            assert set(statement["Condition"]["StringNotEquals"]) == {"aws:SourceVpce"}
            continue
        if statement["Principal"] == {"AWS": "*"}:
            # Anyone (of the organization) may only post snapshots: never read, never a wildcard
            # route, and never the API's own account, whose callers need an IAM grant.
            assert resources == ["execute-api:/v1/POST/snapshots"]
            assert statement["Condition"] == {
                "StringEquals": {"aws:PrincipalOrgID": ORG},
                "StringNotEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}},
            }
        elif statement["Principal"] == {"AWS": OWN_ACCOUNT_ROOT}:
            # The own account, delegated to its IAM, and only through the listed endpoints.
            assert combo[1]
            assert statement["Condition"] == {"StringEquals": {"aws:SourceVpce": VPCES}}
        else:
            assert "*" not in str(statement["Principal"])
            assert all("/GET/" in r for r in resources)  # readers read; they do not write
            assert "execute-api:/*" not in resources


@pytest.mark.parametrize("combo", [c for c in COMBINATIONS if c[1]], ids=_combo_id)
def test_a_private_api_always_grants_its_own_account(
    synths: dict[tuple[bool, bool, bool], Synth], combo: tuple[bool, bool, bool]
) -> None:
    """AWS: a private API's calls fail until a resource policy grants access. Every private variant
    allows the own account (through the endpoints), including the one with no org and no readers."""
    statements = _api(synths[combo])["Policy"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow" and s["Principal"] == {"AWS": OWN_ACCOUNT_ROOT}]
    assert len(allows) == 1
    assert allows[0]["Resource"] == "execute-api:/*"


def test_read_resources_cover_every_query_route() -> None:
    from infra.api import policy_resource

    assert [policy_resource(route) for route in vocabulary.QUERY_ROUTES] == READ_RESOURCES
    assert policy_resource(vocabulary.SNAPSHOTS) == "execute-api:/v1/POST/snapshots"
