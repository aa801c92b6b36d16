"""Every setting has one variable name, and the stack's environment is built from those names."""

from __future__ import annotations

import pytest

from core.environment import ENV_NAMES, NAMESPACE, SERVICE, environment
from core.settings import Settings


def test_every_setting_has_a_variable_and_no_variable_is_orphaned() -> None:
    assert set(ENV_NAMES) == set(Settings.model_fields)
    assert len(set(ENV_NAMES.values())) == len(ENV_NAMES)


def test_environment_maps_settings_to_their_variables_and_adds_powertools() -> None:
    env = environment(table_name="inv", collector_role_arns="")
    assert env["TABLE_NAME"] == "inv" and env["COLLECTOR_ROLE_ARNS"] == ""
    assert env["POWERTOOLS_SERVICE_NAME"] == SERVICE and env["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert environment(tracing=True)["POWERTOOLS_TRACE_DISABLED"] == "false"


def test_a_misspelled_setting_fails_where_it_is_written() -> None:
    with pytest.raises(KeyError, match="table"):
        environment(table="inv")
