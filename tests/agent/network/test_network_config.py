"""NetworkConfig: defaults from the protocol constants, consistency checks, JSON overrides."""

from __future__ import annotations

import pytest

from agent.network.config import (
    NetworkConfig,
    NetworkConfigError,
    network_config_from_json,
)
from coordinator_free.constants import (
    HEARTBEAT_INTERVAL_S,
    MAX_CLOCK_SKEW_S,
    OFFLINE_AFTER_S,
)


def test_defaults_are_the_protocol_numbers():
    config = NetworkConfig()
    assert config.heartbeat_interval_s == HEARTBEAT_INTERVAL_S
    assert config.offline_after_s == OFFLINE_AFTER_S
    assert config.max_clock_skew_s == MAX_CLOCK_SKEW_S
    assert config.local_api_host == "127.0.0.1"


def test_json_overrides_fields_and_converts_lists_and_ints():
    config = network_config_from_json(
        '{"heartbeat_interval_s": 1, "offline_after_s": 5, "bootstrap_peers": ["10.0.0.1:8470"]}'
    )
    assert config.heartbeat_interval_s == 1.0 and isinstance(config.heartbeat_interval_s, float)
    assert config.bootstrap_peers == ("10.0.0.1:8470",)


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"heartbeat_intervl_s": 1}', "unknown network settings"),
        ('{"port": "80"}', "port must be int"),
        ('{"mdns_enabled": 1}', "mdns_enabled must be bool"),
        ('{"port": 70000}', "0..65535"),
        ('{"offline_after_s": 30}', "offline_after_s"),
        ('{"nonce_window_s": 10}', "replays slip through"),
        ("[1]", "must be an object"),
        ("{", "not valid JSON"),
    ],
)
def test_bad_settings_say_what_is_wrong(text, message):
    with pytest.raises(NetworkConfigError, match=message):
        network_config_from_json(text)
