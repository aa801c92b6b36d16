from __future__ import annotations

import pytest

from core.settings import SettingsError, settings_from_env


def test_defaults_and_parsing() -> None:
    settings = settings_from_env(
        {
            "TABLE_NAME": "inv",
            "COLLECTOR_ROLE_ARNS": " arn:aws:iam::1:role/a ,arn:aws:iam::1:role/b",
            "DESCRIBE_TASKS_CROSS_CHECK": "true",
        }
    )
    assert settings.table_name == "inv"
    assert settings.collector_role_arns == ("arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b")
    assert settings.describe_tasks_cross_check is True
    assert settings.stopped_retention_days == 30


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"STOPPED_RETENTION_DAYS": "0"}, "STOPPED_RETENTION_DAYS"),
        ({"STOPPED_RETENTION_DAYS": "thirty"}, "STOPPED_RETENTION_DAYS"),
        ({"COLLECTOR_ROLE_ARNS": "not-an-arn"}, "COLLECTOR_ROLE_ARNS"),
        ({"MAX_BODY_BYTES": "10"}, "MAX_BODY_BYTES"),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        settings_from_env(env)
