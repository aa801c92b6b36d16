"""Where each fact of a task came from, and which of its self-reported facts AWS never confirmed (pure).

Three sources feed one record (DESIGN 3.9): the agent (the task about itself), EventBridge events
and the sweep's ECS API reads. Events and the ECS API are AWS's word; the agent's is a claim. So:
- each group of fields (status and times, network, images and digests, labels, tags) lists the
  sources that stated it;
- ``confirmed`` holds the IPs, ENIs, images and digests AWS stated, ``selfReported`` what the
  agent stated, and ``unconfirmed`` the difference: a claim AWS never made, kept and searchable,
  never hiding what AWS said.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from core.model.task import Facts, Sources, Task
from core.vocabulary import AGENT, CONFIRMING_SOURCES, ECS_API, EVENT

# Bounded: a task holds a handful of addresses and images; a hostile report must not grow the record.
MAX_FACTS_PER_KIND: Final = 32
_FACT_KINDS: Final = ("ips", "enis", "images", "image_digests")


def source_kind(source: str) -> str:
    """``agent``, ``event`` or ``ecs-api`` for any observation source (every TMDE flavour is the agent)."""
    if source in (EVENT, ECS_API):
        return source
    return AGENT


def is_confirming(source: str) -> bool:
    return source_kind(source) in CONFIRMING_SOURCES


def facts_of(task: Task) -> Facts:
    """The values of AWS-owned fields this report states (pause containers' images are ECS's own)."""
    ips: list[str] = []
    enis: list[str] = []
    for container in task.containers:
        for network in container.networks:
            ips += [*network.ipv4_addresses, *network.ipv6_addresses]
            if network.eni:
                enis.append(network.eni)
    app = [c for c in task.containers if not c.internal]
    return Facts(
        ips=_unique(ips),
        enis=_unique(enis),
        images=_unique(c.image for c in app if c.image),
        image_digests=_unique(c.image_digest for c in app if c.image_digest),
    )


def with_provenance(task: Task, previous: Task | None, incoming: Task, source: str) -> Task:
    """``task`` (the merge result) with its sources updated by what ``incoming`` stated."""
    kind = source_kind(source)
    old = previous.sources if previous is not None else Sources()
    facts = facts_of(incoming)
    stated = {
        "status": incoming.last_status is not None,
        "network": bool(facts.ips or facts.enis),
        "images": bool(facts.images or facts.image_digests),
        "labels": any(c.labels for c in incoming.containers),
        "tags": bool(incoming.tags),
    }
    groups = {
        group: _with(getattr(old, group), kind) if said else list(getattr(old, group))
        for group, said in stated.items()
    }
    confirmed, self_reported = old.confirmed, old.self_reported
    if kind in CONFIRMING_SOURCES:
        confirmed = _union(confirmed, facts)
    else:
        self_reported = _union(self_reported, facts)
    sources = Sources(
        **groups,
        confirmed=confirmed,
        self_reported=self_reported,
        unconfirmed=_difference(self_reported, confirmed),
    )
    return task.model_copy(update={"sources": sources})


def confirmed_status(task: Task | None) -> bool:
    """True once AWS (an event or the ECS API) has stated the task's status and times."""
    return task is not None and any(s in CONFIRMING_SOURCES for s in task.sources.status)


def _with(sources: list[str], kind: str) -> list[str]:
    return sorted({*sources, kind})


def _unique(values: Iterable[str | None]) -> list[str]:
    return sorted({v for v in values if v})[:MAX_FACTS_PER_KIND]


def _union(a: Facts, b: Facts) -> Facts:
    return Facts(**{kind: _unique([*getattr(a, kind), *getattr(b, kind)]) for kind in _FACT_KINDS})


def _difference(a: Facts, b: Facts) -> Facts:
    return Facts(**{kind: sorted(set(getattr(a, kind)) - set(getattr(b, kind))) for kind in _FACT_KINDS})


__all__ = ["confirmed_status", "facts_of", "is_confirming", "source_kind", "with_provenance"]
