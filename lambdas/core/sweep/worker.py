"""One sweep unit: one account and region, read from ECS, recorded, vanished tasks closed, coverage noted.

Per cluster (sorted by ARN), for desiredStatus RUNNING then STOPPED, page by page: one
``ListTasks`` page (up to 100 ARNs), one ``DescribeTasks`` of those ARNs (with tags), each task
normalized (``core.normalize.ecs_api``) and recorded through the same newer-wins path as every
other report (``core.logic.recording.Recorder``): a task ECS reports at a version already stored
writes nothing. A page is the unit of progress: when the invocation's time runs low (or ECS or
DynamoDB keep pushing back), the unit stops before the next page and hands back a continuation
that resumes at that page (cluster, status, nextToken). A page done twice changes nothing.

Closing needs the complete list of what ECS knows in the account-region. A unit done in one
invocation has it; a continued one lists every cluster again (ListTasks only, no describe) in
its last part before closing, and skips closing (logged) if even that does not fit.

Drift (core.logic.drift): after DescribeTasks, each running service task of the page is judged
against its service's current deployment: one ``ListServiceDeployments`` per service and one
``DescribeServiceRevisions`` per 20 new revisions, both kept for the invocation by the reader. The
verdict rides on the task's observation into the same newer-wins merge; the same verdict writes nothing.

Tenancy: the unit writes only tasks of the account and region it assumed a role in. An answer
naming any other account's or region's task (a hostile or broken endpoint) is dropped and logged.
Bad input: a malformed DescribeTasks entry is skipped with a log line naming what was wrong.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from core.errors import InvalidInput, PayloadTooLarge, Throttled
from core.logic import drift
from core.model import Observation
from core.normalize.common import parse_task_arn
from core.normalize.ecs_api import normalize_described
from core.sweep.closing import vanished, vanished_observation
from core.sweep.ecs import SERVER_CODES, THROTTLING_CODES, EcsReader, OutOfTime, error_code, partition_of
from core.sweep.targets import STATUSES, Resume, Target, Totals, Unit

log = logging.getLogger("taskbeacon.sweep")

KILOBYTE = 1024


class CoverageRecorder(Protocol):
    def record_sweep(self, account: str, region: str, swept_at: datetime, summary: dict[str, Any]) -> Any: ...


ReaderFactory = Callable[[Target, Callable[[], float]], EcsReader]


@dataclass
class UnitResult:
    unit: Unit
    totals: Totals  # everything the unit did so far, all parts
    continuation: Unit | None = None  # the rest, for the next invocation
    pushed_back: bool = False  # the continuation is due to throttling: send it with a delay
    error: str | None = None  # the unit cannot run (e.g. the member role is missing): not retried
    closed_checked: bool = False  # vanished tasks were looked for (the listing was complete)

    @property
    def done(self) -> bool:
        return self.continuation is None


def write_units(cost: Any) -> int:
    """DynamoDB write units of a ``WriteCost``: 1 per KB or part of each item, twice in a transaction."""
    if not cost.items:
        return 0
    per_item = max(1, math.ceil(cost.bytes / cost.items / KILOBYTE))
    return per_item * cost.items * (2 if cost.transactional else 1)


class _Stop(Exception):
    """This part ends here; a continuation resumes at ``resume`` (or the closing listing)."""

    def __init__(self, resume: Resume | None, *, closing: bool, pushed: bool = False) -> None:
        super().__init__("part ends")
        self.resume = resume
        self.closing = closing
        self.pushed = pushed


def _positions(clusters: list[str], resume: Resume | None) -> Iterator[tuple[str, str, str | None]]:
    """(cluster, status, page token) from the resume point on; a cluster gone since starts the next fresh."""
    start, first_status, token = 0, 0, None
    if resume is not None:
        start = bisect_left(clusters, resume.cluster)
        if start < len(clusters) and clusters[start] == resume.cluster:
            first_status, token = STATUSES.index(resume.status), resume.next_token
    for index in range(start, len(clusters)):
        for status_index in range(first_status if index == start else 0, len(STATUSES)):
            first = index == start and status_index == first_status
            yield clusters[index], STATUSES[status_index], token if first else None


class Worker:
    def __init__(
        self,
        *,
        readers: ReaderFactory,
        recorder: Any,
        query: Any,
        coverage: CoverageRecorder | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.readers = readers
        self.recorder = recorder
        self.query = query
        self.coverage = coverage
        self.clock = clock

    # -- one invocation's part of a unit ----------------------------------------------------
    def run(self, unit: Unit, *, remaining: Callable[[], float] = lambda: float("inf")) -> UnitResult:
        from botocore.exceptions import ClientError

        target = unit.target
        if unit.part == 0 and unit.resume is None and not unit.closing:
            # The unit begins now, not when it was planned (Lambda may have held it a while).
            unit = replace(unit, started_at=self.clock())
        try:
            reader = self.readers(target, remaining)
        except ClientError as error:
            code = error_code(error)
            if code in THROTTLING_CODES or code in SERVER_CODES:
                raise  # STS pushed back: Lambda's async retries deliver the unit again
            message = f"cannot assume the sweep role in {target}: {code or error}"
            log.error("sweep: %s; is the member StackSet deployed there?", message)
            return UnitResult(unit, unit.totals, error=message)
        part = Totals(parts=1)
        try:
            return self._run(unit, reader, part)
        except ClientError as error:
            # Access denied to a cluster, an unknown API answer, ...: not something a retry fixes.
            message = f"ECS refused the sweep in {target}: {error_code(error) or error}"
            log.error("sweep: %s", message)
            totals = self._totals(unit, part, reader)
            return UnitResult(unit, totals, error=message)

    def _run(self, unit: Unit, reader: EcsReader, part: Totals) -> UnitResult:
        try:
            return self._parts(unit, reader, part)
        except _Stop as stop:
            return self._continue(unit, part, reader, stop.resume, closing=stop.closing, pushed=stop.pushed)

    def _parts(self, unit: Unit, reader: EcsReader, part: Totals) -> UnitResult:
        target = unit.target
        listed_from = self.clock()
        try:
            clusters = sorted(set(reader.list_clusters()))
        except OutOfTime as stop:
            raise _Stop(unit.resume, closing=unit.closing, pushed=stop.throttled) from None
        known = set() if unit.closing else self._sweep_pages(unit, reader, clusters, part)
        # A unit done in one part listed everything ECS knows; a continued one lists it again, whole.
        listed = unit.part == 0 and unit.resume is None and not unit.closing
        if not listed:
            listed_from = self.clock()
            try:
                known = self._list_all(reader, clusters, target)
                listed = True
            except OutOfTime as stop:
                if not unit.closing:
                    raise _Stop(None, closing=True, pushed=stop.throttled) from None
                log.warning(
                    "sweep %s: the listing for closing did not fit one invocation; closing skipped", target
                )
        if listed:
            try:
                self._close(unit, known, listed_from, part)
            except Throttled:
                raise _Stop(None, closing=True, pushed=True) from None
        totals = self._totals(unit, part, reader)
        totals.clusters = len(clusters)
        self._record_coverage(target, totals)
        return UnitResult(unit, totals, closed_checked=listed)

    def _sweep_pages(self, unit: Unit, reader: EcsReader, clusters: list[str], part: Totals) -> set[str]:
        """Every page from the resume point on; ``_Stop`` at the page where time (or patience) ran out."""
        known: set[str] = set()
        for cluster, status, first_token in _positions(clusters, unit.resume):
            token = first_token
            while True:
                resume = Resume(cluster, status, token)
                if reader.out_of_time():
                    raise _Stop(resume, closing=False)
                try:
                    arns, token = self._page(unit.target, reader, cluster, status, token, part)
                except OutOfTime as stop:
                    raise _Stop(resume, closing=False, pushed=stop.throttled) from None
                except Throttled:  # DynamoDB pushed back: the page is done again later (no change twice)
                    raise _Stop(resume, closing=False, pushed=True) from None
                known.update(arns)
                if not token:
                    break
        return known

    # -- steps ------------------------------------------------------------------------------
    def _own(self, arn: str, target: Target, part: Totals) -> bool:
        try:
            ref = parse_task_arn(arn, "taskArn")
        except InvalidInput as error:
            part.skipped += 1
            log.warning("sweep %s: skipped a listed task ARN %r: %s", target, arn[:200], error)
            return False
        if (ref.partition, ref.account_id, ref.region) != (
            partition_of(target.region),
            target.account,
            target.region,
        ):
            part.foreign += 1
            log.warning(
                "sweep %s: dropped task %s of another partition, account or region (listed)", target, arn
            )
            return False
        return True

    def _page(
        self, target: Target, reader: EcsReader, cluster: str, status: str, token: str | None, part: Totals
    ) -> tuple[list[str], str | None]:
        """One ListTasks page, described and recorded; its counts join ``part`` only once it is done."""
        arns, next_token = reader.list_tasks(cluster, status, token)
        page = Totals()
        own = [arn for arn in dict.fromkeys(arns) if self._own(arn, target, page)]
        tasks, failures = reader.describe_tasks(cluster, own)
        observed_at = self.clock()
        observations = []
        for index, entry in enumerate(tasks):
            arn = entry.get("taskArn") if isinstance(entry, dict) else None
            try:
                observation = normalize_described(entry, observed_at=observed_at, path=f"tasks[{index}]")
            except InvalidInput as error:
                page.skipped += 1
                log.warning(
                    "sweep %s: skipped DescribeTasks entry %s of %s: %s",
                    target,
                    repr(arn)[:200] if arn is not None else f"#{index}",
                    cluster,
                    error,
                )
                continue
            task = observation.task
            # The partition too: the region names it, so an ARN of another partition is another's.
            partition = task.task_arn.split(":", 2)[1]
            if (partition, task.account_id, task.region) != (
                partition_of(target.region),
                target.account,
                target.region,
            ):
                page.foreign += 1
                log.warning(
                    "sweep %s: dropped task %s of another partition, account or region (described)",
                    target,
                    task.task_arn,
                )
                continue
            observations.append(observation)
        for observation in self._judge_drift(reader, cluster, observations, observed_at):
            try:
                outcome = self.recorder.apply(observation, now=observed_at)
            except (InvalidInput, PayloadTooLarge) as error:
                page.skipped += 1
                log.warning("sweep %s: could not record %s: %s", target, observation.task.task_arn, error)
                continue
            page.tasks_seen += 1
            if outcome.changed:
                page.written += 1
                page.write_units += write_units(outcome.cost)
        page.missing += len(failures)
        part.add(page)
        return own, next_token

    def _judge_drift(
        self, reader: EcsReader, cluster: str, observations: list[Observation], now: datetime
    ) -> list[Observation]:
        """The page's observations, each running service task carrying its drift verdict when its
        service's current deployment can be judged (core.logic.drift); the others as they are."""
        services = sorted(
            {o.task.service_name for o in observations if o.task.service_name and drift.judged(o.task)}
        )
        if not services:
            return observations
        current: dict[str, drift.Deployment] = {}
        for service in services:
            deployment = drift.current_deployment(reader.list_service_deployments(cluster, service))
            if deployment is not None:
                current[service] = deployment
        if not current:
            return observations
        described = reader.describe_service_revisions(sorted({d.revision_arn for d in current.values()}))
        revisions = drift.revisions({"serviceRevisions": [entry for entry in described.values() if entry]})
        judged: list[Observation] = []
        for observation in observations:
            task = observation.task
            deployment = current.get(task.service_name or "") if drift.judged(task) else None
            revision = revisions.get(deployment.revision_arn) if deployment is not None else None
            if deployment is None or revision is None:
                judged.append(observation)
                continue
            verdict = drift.judge(task, deployment, revision, now=now)
            judged.append(observation.model_copy(update={"task": task.model_copy(update={"drift": verdict})}))
        return judged

    def _list_all(self, reader: EcsReader, clusters: list[str], target: Target) -> set[str]:
        known: set[str] = set()
        scratch = Totals()
        for cluster, status, _ in _positions(clusters, None):
            token: str | None = None
            while True:
                arns, token = reader.list_tasks(cluster, status, token)
                known.update(arn for arn in arns if self._own(arn, target, scratch))
                if not token:
                    break
        return known

    def _close(self, unit: Unit, known: set[str], listed_from: datetime, part: Totals) -> None:
        target = unit.target
        for task in vanished(
            self.query,
            target.account,
            target.region,
            known,
            unit_started_at=unit.started_at,
            listed_from=listed_from,
        ):
            now = self.clock()
            outcome = self.recorder.apply(vanished_observation(task, at=now), now=now)
            if outcome.changed:
                part.closed += 1
                part.write_units += write_units(outcome.cost)
                log.info("sweep %s: closed %s (ECS no longer knows it)", target, task.task_arn)

    # -- bookkeeping ------------------------------------------------------------------------
    def _totals(self, unit: Unit, part: Totals, reader: EcsReader) -> Totals:
        totals = Totals()
        totals.add(unit.totals)
        part.calls += reader.stats.total
        part.throttled += reader.stats.throttled
        totals.add(part)
        return totals

    def _continue(
        self,
        unit: Unit,
        part: Totals,
        reader: EcsReader,
        resume: Resume | None,
        *,
        closing: bool,
        pushed: bool = False,
    ) -> UnitResult:
        totals = self._totals(unit, part, reader)
        continuation = Unit(
            target=unit.target,
            sweep_id=unit.sweep_id,
            started_at=unit.started_at,
            part=unit.part + 1,
            resume=resume,
            closing=closing,
            totals=totals,
        )
        log.info(
            "sweep %s: part %d ends at %s; a continuation resumes it%s",
            unit.target,
            unit.part,
            "the closing listing" if closing else resume,
            " (ECS or DynamoDB pushed back)" if pushed else "",
        )
        return UnitResult(unit, totals, continuation=continuation, pushed_back=pushed)

    def _record_coverage(self, target: Target, totals: Totals) -> None:
        if self.coverage is None:
            return
        try:
            self.coverage.record_sweep(target.account, target.region, self.clock(), totals.as_dict())
        except Exception:  # the sweep's own writes landed; a missed coverage note is logged, not retried
            log.exception("sweep %s: recording coverage failed", target)


__all__ = ["CoverageRecorder", "UnitResult", "Worker", "write_units"]
