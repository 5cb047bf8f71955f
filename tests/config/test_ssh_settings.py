"""``ssh:`` settings: the connect timeout and the keepalive watchdog's interval and count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from opskeeper.config.ssh import SSHSettings


def test_defaults_and_the_target_options_they_give() -> None:
    assert SSHSettings().target_options() == {"connect_timeout": 10.0, "keepalive_s": 15.0, "keepalive_count": 3}
    ssh = SSHSettings.model_validate({"connect_timeout": "30s", "keepalive": 5, "keepalive_count": 4})
    assert ssh.keepalive == timedelta(seconds=5)
    assert ssh.target_options() == {"connect_timeout": 30.0, "keepalive_s": 5.0, "keepalive_count": 4}


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"keepalive": "0s"}, "keepalive", "must be more than 0s and at most 1h, got 0s"),
        ({"keepalive": -5}, "keepalive", "must be more than 0s and at most 1h, got -5s"),
        ({"connect_timeout": "2h"}, "connect_timeout", "must be more than 0s and at most 1h, got 7200s"),
        ({"keepalive": "soon"}, "keepalive", "expected a duration like '30m'"),
        ({"keepalive_count": 0}, "keepalive_count", "greater than or equal to 1"),
        ({"keepalive_count": "many"}, "keepalive_count", "valid integer"),
        ({"keepalive_s": 5}, "keepalive_s", "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_refused_by_field(given: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        SSHSettings.model_validate(given)
    [e] = err.value.errors()
    assert e["loc"] == (field,) and message in e["msg"], e
