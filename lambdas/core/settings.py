"""Server settings from the Lambda environment, validated once and read lazily (never at import)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.functional_validators import BeforeValidator

from core.environment import ENV_NAMES
from core.store.schema import DEFAULT_TABLE_NAME


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _parse_bool(value: object) -> object:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return value


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = Field(default=DEFAULT_TABLE_NAME, min_length=3, max_length=255)
    collector_role_arns: Annotated[tuple[str, ...], BeforeValidator(_split_csv)] = ()
    stopped_retention_days: int = Field(default=30, ge=1, le=3650)
    # The agents' keepalive: a random 12-24 h (EventBridge carries the lifecycle); stale after two.
    keepalive_seconds: int = Field(default=86_400, ge=30, le=604_800)
    max_body_bytes: int = Field(default=262_144, ge=1024, le=6_000_000)
    history_limit: int = Field(default=50, ge=1, le=200)
    # Every account of the organization forwards ECS task events (the member StackSet is deployed):
    # agents there need not send a stop snapshot (handlers/ingest.py answers stopReport "skip").
    events_from_organization: bool = False
    describe_tasks_cross_check: Annotated[bool, BeforeValidator(_parse_bool)] = False
    # The sweep (DESIGN 3.9): which accounts and regions it reads, through which member role, how fast.
    sweep_accounts: Annotated[tuple[str, ...], BeforeValidator(_split_csv)] = ()  # empty: Organizations
    sweep_regions: Annotated[tuple[str, ...], BeforeValidator(_split_csv)] = ()
    sweep_role_name: str = Field(default="taskbeacon-sweep-reader", min_length=1, max_length=50)
    sweep_worker_function: str = ""  # the worker's name or ARN: the planner invokes it asynchronously
    sweep_calls_per_second: float = Field(default=5.0, gt=0, le=20)
    # Change events out (docs/events.md): the bus the indexer publishes to; empty publishes nothing.
    change_events_bus: str = Field(default="", max_length=1600)

    @field_validator("collector_role_arns")
    @classmethod
    def _role_arns(cls, arns: tuple[str, ...]) -> tuple[str, ...]:
        for arn in arns:
            if not arn.startswith("arn:") or ":role/" not in arn:
                raise ValueError(f"not an IAM role ARN: {arn!r}")
        return arns


class SettingsError(RuntimeError):
    """A deployment mistake (bad environment variable); reported by name at the first request."""


def settings_from_env(environ: dict[str, str]) -> Settings:
    values = {field: environ[env] for field, env in ENV_NAMES.items() if env in environ}
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        env = ENV_NAMES.get(str(first["loc"][0]), str(first["loc"][0])) if first["loc"] else "?"
        raise SettingsError(f"invalid environment variable {env}: {first['msg']}") from error


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    import os

    return settings_from_env(dict(os.environ))
