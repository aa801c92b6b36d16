"""Tenants are separate in the sweep: whatever one account's ECS endpoint answers, its unit writes only
that account-region's tasks.

A sweep unit of account X (the attacker) in region R reads ECS through X's own role, so every answer
it gets is X's to shape. Hypothesis draws hostile answers from classes of input: ListTasks pages and
DescribeTasks entries naming the tasks of account Y (the victim) or of another region, ARNs of X
reusing Y's task ids (in any partition, old and new format), entries mixing X's and Y's ARNs, values
malformed as botocore would still hand them over, and not-an-object entries; ListServiceDeployments
and DescribeServiceRevisions answers whose deployment and revision ARNs, task definitions and digests
name Y's account, echo Y's real revision or would make Y's tasks drifted, for services and clusters of
the same names as Y's. Y's tasks (in R and elsewhere) and X's tasks of another region were swept
first, so Y holds a drift verdict and a ``drifted`` index entry. After X's unit (the indexer run over
the table's stream): every item of a task outside (X, R), its partition and its index entries, is
byte for byte as it was, no ``drifted`` entry names such a task, and X's own tasks are recorded as
ECS said them. On moto and on DynamoDB Local (``engine``), a fresh table per example.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.store.schema import create_table_request
from core.sweep.targets import Target
from tests.hypothesis_profiles import examples, suppressed
from tests.store.builders import T0
from tests.store.inventory import Inventory, all_items
from tests.sweep.conftest import CountingClient, FakeCoverage, Harness
from tests.sweep.stub import FakeOrg, SimClock, StubEcs, as_boto3, ecs_task, fixture

VICTIM, ATTACKER = "444455556666", "777788889999"
REGION, ELSEWHERE = "us-east-1", "eu-west-1"
ATTACK = Target(ATTACKER, REGION)
FARGATE = fixture("describe-tasks-fargate.json")["tasks"][0]  # webserver:2, container "web"
NGINX = "sha256:" + hashlib.sha256(b"nginx").hexdigest()  # the digest the stub's tasks run
OTHER_DIGEST = "sha256:" + "0" * 64
SERVICE = "web"  # the victim's service; the attacker's has the same name, in a cluster of the same name
VICTIM_SEEDS = ("victim-inline", "victim-old", "victim-standalone")  # (R); one more in ELSEWHERE
ATTACKER_SEEDS = ("attacker-1", "attacker-2", "attacker-standalone")


def _cluster(account: str, region: str = REGION) -> str:
    return f"arn:aws:ecs:{region}:{account}:cluster/prod"


def _revision_arn(account: str, region: str = REGION, number: int = 1) -> str:
    return f"arn:aws:ecs:{region}:{account}:service-revision/prod/{SERVICE}/{number}"


def _deployment_arn(account: str, region: str = REGION, name: str = "d1") -> str:
    return f"arn:aws:ecs:{region}:{account}:service-deployment/prod/{SERVICE}/{name}"


def _definition(account: str, family_revision: str, region: str = REGION) -> str:
    return f"arn:aws:ecs:{region}:{account}:task-definition/{family_revision}"


def _task(
    account: str,
    region: str,
    seed: str,
    *,
    service: str | None = SERVICE,
    definition: str | None = None,
    digest: str | None = None,
    desired: str = "RUNNING",
    version: int = 3,
) -> dict[str, Any]:
    """An ECS task document; the same ``seed`` gives the same task id in any account."""
    task = ecs_task(
        FARGATE, account=account, region=region, cluster="prod", seed=seed, service=service,
        desired=desired, version=version, started=T0 - timedelta(days=1),
    )  # fmt: skip
    if definition is not None:
        task["taskDefinitionArn"] = _definition(account, definition, region)
    if digest is not None:
        task["containers"][0]["imageDigest"] = digest
    return task


def _task_id(seed: str) -> str:
    return str(_task(VICTIM, REGION, seed)["taskArn"]).rsplit("/", 1)[-1]


VICTIM_IDS = tuple(_task_id(seed) for seed in (*VICTIM_SEEDS, "victim-elsewhere"))
VICTIM_REVISION = {
    "serviceRevisionArn": _revision_arn(VICTIM),
    "clusterArn": _cluster(VICTIM),
    "taskDefinition": _definition(VICTIM, "webserver:2"),
    "containerImages": [{"containerName": "web", "image": "nginx", "imageDigest": NGINX}],
}


# -- the hostile answers ------------------------------------------------------------------------
ACCOUNTS = st.sampled_from([VICTIM, ATTACKER])
REGIONS = st.sampled_from([REGION, ELSEWHERE])
PARTITIONS = st.sampled_from(["aws", "aws-cn", "aws-us-gov"])
VICTIM_ID = st.sampled_from(VICTIM_IDS)
GARBAGE = st.text(alphabet=st.characters(codec="ascii"), max_size=40)


@st.composite
def task_arns(draw: Any) -> str:
    """A listed task ARN: the victim's, the attacker's reusing the victim's ids, any region and partition,
    new and old format, or not an ARN at all."""
    if draw(st.integers(0, 5)) == 0:
        return str(
            draw(GARBAGE | st.sampled_from(["", "arn:aws:ecs:::task/", f"arn:aws:ecs:{REGION}:{VICTIM}"]))
        )
    partition, region, account = draw(PARTITIONS), draw(REGIONS), draw(ACCOUNTS)
    middle = draw(st.sampled_from(["prod/", ""]))
    return f"arn:{partition}:ecs:{region}:{account}:task/{middle}{draw(VICTIM_ID)}"


def _repartition(document: dict[str, Any], partition: str) -> dict[str, Any]:
    """Every ARN of ``document`` in ``partition`` (a task ECS could never describe from R)."""
    changed: dict[str, Any] = json.loads(json.dumps(document).replace("arn:aws:", f"arn:{partition}:"))
    return changed


@st.composite
def described_entries(draw: Any) -> Any:
    """One extra DescribeTasks entry, as boto3 would hand it over (or not an object at all)."""
    kind = draw(
        st.sampled_from(
            [
                "victim",
                "victim-elsewhere",
                "attacker-elsewhere",
                "reused-id",
                "mixed",
                "partition",
                "malformed",
                "raw",
            ]
        )
    )
    if kind == "raw":
        return draw(st.sampled_from(["not an object", None, 5, [], {"taskArn": None}]))
    seed = draw(st.sampled_from([*VICTIM_SEEDS, "victim-elsewhere"]))
    account, region = {
        "victim": (VICTIM, REGION),
        "victim-elsewhere": (VICTIM, ELSEWHERE),
        "attacker-elsewhere": (ATTACKER, ELSEWHERE),
    }.get(kind, (ATTACKER, REGION))
    desired = draw(st.sampled_from(["RUNNING", "STOPPED"]))
    document = _task(
        account,
        region,
        seed,
        service=draw(st.sampled_from([SERVICE, "api", None])),
        definition=draw(st.sampled_from(["webserver:1", "webserver:2", "webserver:3"])),
        digest=draw(st.sampled_from([NGINX, OTHER_DIGEST])),
        desired=desired,
        version=draw(st.integers(1, 10**6)),
    )
    if kind == "mixed":  # the attacker's task in the victim's cluster, or the victim's task in the attacker's
        if draw(st.booleans()):
            document["clusterArn"] = _cluster(VICTIM)
        else:
            document["taskArn"] = str(document["taskArn"]).replace(ATTACKER, VICTIM)
        if draw(st.booleans()):
            document["taskDefinitionArn"] = _definition(VICTIM, "webserver:1")
    elif kind == "partition":
        if draw(st.booleans()):
            document = _task(VICTIM, REGION, seed, desired=desired, version=draw(st.integers(4, 10**6)))
        document = _repartition(document, draw(st.sampled_from(["aws-cn", "aws-us-gov"])))
    elif kind == "malformed":
        broken = draw(
            st.sampled_from(["taskArn", "clusterArn", "taskDefinitionArn", "version", "containers"])
        )
        document[broken] = draw(
            st.sampled_from([GARBAGE, st.just(-1), st.just([]), st.none()]).flatmap(lambda s: s)
            if broken != "containers"
            else st.just([{"name": 5}])
        )
        if document[broken] is None:
            del document[broken]
    try:
        return as_boto3("DescribeTasks", {"tasks": [document], "failures": []})["tasks"][0]
    except (AttributeError, TypeError, ValueError):
        return {"taskArn": document.get("taskArn") if isinstance(document.get("taskArn"), str) else None}


REVISION_ARNS = st.sampled_from(
    [
        _revision_arn(VICTIM),
        _revision_arn(VICTIM, ELSEWHERE),
        _revision_arn(ATTACKER),
        _revision_arn(ATTACKER, number=2),
        "",
        "not-an-arn",
    ]
)


@st.composite
def deployments(draw: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "serviceDeploymentArn": draw(
            st.sampled_from(
                [_deployment_arn(VICTIM), _deployment_arn(ATTACKER), _deployment_arn(ATTACKER, name="d2")]
            )
        ),
        "clusterArn": draw(st.sampled_from([_cluster(VICTIM), _cluster(ATTACKER)])),
        "serviceArn": f"arn:aws:ecs:{REGION}:{draw(ACCOUNTS)}:service/prod/{SERVICE}",
        "status": draw(
            st.sampled_from(["SUCCESSFUL"] * 4 + ["ROLLBACK_SUCCESSFUL", "IN_PROGRESS", "STOPPED", "BOGUS"])
        ),
        "targetServiceRevisionArn": draw(REVISION_ARNS),
    }
    if draw(st.integers(0, 7)):
        document["createdAt"] = (T0 + timedelta(minutes=draw(st.integers(-600, 600)))).timestamp()
    if draw(st.integers(0, 7)) == 0:
        del document[draw(st.sampled_from(["serviceDeploymentArn", "targetServiceRevisionArn", "status"]))]
    return document


@st.composite
def revisions(draw: Any) -> dict[str, Any]:
    """A service revision: the victim's real one, or one naming anything with any definition and digests."""
    if draw(st.integers(0, 4)) == 0:
        return dict(VICTIM_REVISION)
    document: dict[str, Any] = {
        "serviceRevisionArn": draw(REVISION_ARNS),
        "clusterArn": draw(st.sampled_from([_cluster(VICTIM), _cluster(ATTACKER)])),
        "taskDefinition": draw(
            st.sampled_from(
                [
                    _definition(VICTIM, "webserver:1"),
                    _definition(VICTIM, "webserver:2"),
                    _definition(ATTACKER, "webserver:1"),
                    _definition(ATTACKER, "webserver:2"),
                    "webserver:3",
                    "",
                ]
            )
        ),
        "containerImages": [
            {"containerName": name, "image": "nginx", **({"imageDigest": digest} if digest else {})}
            for name, digest in draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(["web", "sidecar", ""]), st.sampled_from([NGINX, OTHER_DIGEST, None])
                    ),
                    max_size=2,
                )
            )
        ],
    }
    if draw(st.integers(0, 5)) == 0:
        del document["taskDefinition"]
    return document


@dataclass
class Answers:
    """What the attacker's endpoint adds to (or answers instead of) ECS's own answers."""

    listed: dict[str, list[str]]  # desiredStatus -> extra ARNs on the first page of each cluster
    described: list[Any]  # extra entries of every DescribeTasks answer
    deployments: list[dict[str, Any]]  # the answer of every ListServiceDeployments
    revisions: list[dict[str, Any]]  # in every DescribeServiceRevisions answer, asked for or not
    echoed: list[dict[str, Any]]  # answered under the ARNs asked for, in turn (then failures)
    page_size: int = 100


@st.composite
def answers(draw: Any) -> Answers:
    return Answers(
        listed={status: draw(st.lists(task_arns(), max_size=4)) for status in ("RUNNING", "STOPPED")},
        described=draw(st.lists(described_entries(), min_size=1, max_size=6)),
        deployments=draw(st.lists(deployments(), min_size=1, max_size=3)),
        revisions=draw(st.lists(revisions(), max_size=2)),
        echoed=draw(st.lists(revisions(), max_size=2)),
        page_size=draw(st.sampled_from([2, 100])),
    )


class HostileEcs(StubEcs):
    """The attacker's ECS: the organization's own answers, and whatever ``answers`` adds."""

    def __init__(self, org: FakeOrg, account: str, region: str, hostile: Answers) -> None:
        super().__init__(org, account, region)
        self.hostile = hostile

    def list_tasks(self, cluster: str, desiredStatus: str = "RUNNING", **kwargs: Any) -> dict[str, Any]:
        answer = super().list_tasks(cluster, desiredStatus, **kwargs)
        if not kwargs.get("nextToken"):
            answer["taskArns"] = [*answer["taskArns"], *self.hostile.listed.get(desiredStatus, [])]
        return answer

    def describe_tasks(
        self, cluster: str, tasks: list[str], include: list[str] | None = None
    ) -> dict[str, Any]:
        answer = super().describe_tasks(cluster, tasks, include)
        answer["tasks"] = [*answer["tasks"], *self.hostile.described]
        return answer

    def list_service_deployments(self, cluster: str, service: str, **_: Any) -> dict[str, Any]:
        self._note("ListServiceDeployments")
        return as_boto3("ListServiceDeployments", {"serviceDeployments": self.hostile.deployments})

    def describe_service_revisions(self, serviceRevisionArns: list[str]) -> dict[str, Any]:
        self._note("DescribeServiceRevisions")
        echoed = [
            {**document, "serviceRevisionArn": arn}
            for arn, document in zip(serviceRevisionArns, self.hostile.echoed, strict=False)
        ]
        failures = [{"arn": arn, "reason": "MISSING"} for arn in serviceRevisionArns[len(echoed) :]]
        return as_boto3(
            "DescribeServiceRevisions",
            {"serviceRevisions": [*echoed, *self.hostile.revisions], "failures": failures},
        )


@dataclass
class HostileOrg(FakeOrg):
    hostile: dict[tuple[str, str], Answers] = field(default_factory=dict)

    def client(self, account: str, region: str) -> StubEcs:
        if (account, region) in self.hostile:
            return HostileEcs(self, account, region, self.hostile[(account, region)])
        return StubEcs(self, account, region)


# -- the store --------------------------------------------------------------------------------
@pytest.fixture
def dynamodb(engine_client: Any) -> Any:
    """The sweep's store on moto and on DynamoDB Local in turn (tests/conftest.py ``engine``)."""
    return engine_client


def _harness(client: Any) -> Harness:
    """tests/sweep/conftest.py's ``harness`` on a fresh table of ``client`` (the engine persists
    between examples), with the hostile organization."""
    table = f"sweep-tenants-{uuid.uuid4().hex[:12]}"
    client.create_table(**create_table_request(table))
    clock = SimClock(T0)
    counting = CountingClient(client)
    inventory = Inventory(counting, table=table, history_limit=50, now=T0)
    return Harness(
        clock=clock, org=HostileOrg(clock), inventory=inventory, client=counting, coverage=FakeCoverage()
    )


def _identity(item: dict[str, Any]) -> str | None:
    """The task an item belongs to: its partition's (``TASK#<identity>``) or its index entry's
    (sk ``<firstSeenAt>#<identity>``); None for items of no task."""
    pk = item["pk"]["S"]
    if pk.startswith("TASK#"):
        return str(pk.removeprefix("TASK#"))
    if pk.startswith("IX#"):
        return str(item["sk"]["S"].split("#", 1)[1])
    return None


def _outside(identity: str) -> bool:
    """Whether a task (``<partition>#<account>#<region>#<id>``) is of another account-region than X's R."""
    _, account, region, _ = identity.split("#", 3)
    return (account, region) != (ATTACK.account, ATTACK.region)


def _others(harness: Harness) -> list[dict[str, Any]]:
    items = all_items(harness.client, harness.inventory.table)
    return [item for item in items if (identity := _identity(item)) is not None and _outside(identity)]


def _drifted_outside(harness: Harness) -> set[str]:
    return {
        identity
        for item in all_items(harness.client, harness.inventory.table)
        if item["pk"]["S"].startswith("IX#drifted#")
        and (identity := _identity(item)) is not None
        and _outside(identity)
    }


def _populate(harness: Harness) -> list[dict[str, Any]]:
    """The victim's fleet (swept by its own units, one task drifted) and the attacker's; the
    attacker's tasks in R, which its unit must still record."""
    org = harness.org
    org.add(_task(VICTIM, REGION, "victim-inline"))
    org.add(_task(VICTIM, REGION, "victim-old", definition="webserver:1"))
    org.add(_task(VICTIM, REGION, "victim-standalone", service=None))
    org.add(_task(VICTIM, ELSEWHERE, "victim-elsewhere"))
    org.add(_task(ATTACKER, ELSEWHERE, "attacker-elsewhere"))
    org.deployments[(VICTIM, REGION, _cluster(VICTIM), SERVICE)] = [
        {
            "serviceDeploymentArn": _deployment_arn(VICTIM),
            "clusterArn": _cluster(VICTIM),
            "createdAt": T0.timestamp(),
            "status": "SUCCESSFUL",
            "targetServiceRevisionArn": _revision_arn(VICTIM),
        }
    ]
    org.revisions[_revision_arn(VICTIM)] = VICTIM_REVISION
    results = harness.sweep([Target(VICTIM, REGION), Target(VICTIM, ELSEWHERE), Target(ATTACKER, ELSEWHERE)])
    assert all(result.done and result.error is None for result in results)
    return [
        org.add(_task(ATTACKER, REGION, "attacker-1")),
        org.add(_task(ATTACKER, REGION, "attacker-2", definition="webserver:1")),
        org.add(_task(ATTACKER, REGION, "attacker-standalone", service=None)),
    ]


@settings(
    max_examples=examples(12),
    suppress_health_check=suppressed(HealthCheck.function_scoped_fixture, HealthCheck.data_too_large),
)
@given(hostile=answers())
def test_no_answer_of_one_accounts_ecs_changes_or_judges_a_task_of_another(
    dynamodb: Any, hostile: Answers
) -> None:
    harness = _harness(dynamodb)
    own = _populate(harness)
    before = _others(harness)
    drifted_before = _drifted_outside(harness)
    victim_old = f"aws#{VICTIM}#{REGION}#{_task_id('victim-old')}"
    assert victim_old in drifted_before  # the victim has a verdict and an entry the attacker could touch
    assert len({_identity(item) for item in before}) == 5

    harness.clock.sleep(3600)
    harness.org.hostile[(ATTACK.account, ATTACK.region)] = hostile
    harness.page_size = hostile.page_size
    (result,) = harness.sweep([ATTACK])
    totals = result.totals
    event(f"entries dropped as foreign: {min(totals.foreign, 3)}+, skipped: {min(totals.skipped, 3)}+")

    assert result.done and result.error is None
    assert _others(harness) == before  # byte for byte: records, keepalives, index entries
    assert _drifted_outside(harness) == drifted_before
    for task in own:  # the attacker's own tasks, recorded as its ECS said them
        shown = harness.inventory.query.get_task(task["taskArn"])
        assert shown["accountId"] == ATTACKER and shown["region"] == REGION
        wanted = str(task["taskDefinitionArn"]).rsplit("/", 1)[-1]
        assert shown["lastStatus"] == "RUNNING" and f"{shown['family']}:{shown['revision']}" == wanted
        if shown["serviceName"] == SERVICE:
            verdict = shown.get("drift")
            event(f"attacker's service task: {'unjudged' if verdict is None else verdict['drifted']}")
    for seed, revision in zip(VICTIM_SEEDS, ("2", "1", "2"), strict=True):  # the victim's, read by ARN
        shown = harness.inventory.query.get_task(_task(VICTIM, REGION, seed)["taskArn"])
        assert shown["accountId"] == VICTIM and shown["revision"] == revision
