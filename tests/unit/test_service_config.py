"""afkit's server-side configuration never raises while loading: problems are collected and reported."""

from __future__ import annotations

import pytest

from toolkit.errors import ConfigError
from toolkit.service_config import config_path, load_service_config, parse_service_config


def test_missing_file_means_defaults(tmp_path):
    config = load_service_config({"AIRFLOW_HOME": str(tmp_path)})
    assert config.ok and config.path == tmp_path / "afkit.toml" and config.state_url is None


def test_afkit_config_variable_wins(tmp_path):
    assert config_path({"AFKIT_CONFIG": "/x/a.toml", "AIRFLOW_HOME": str(tmp_path)}).as_posix() == "/x/a.toml"


def test_valid_state_url():
    assert parse_service_config('[state]\nurl = "sqlite:////tmp/s.db"\n').state_url == "sqlite:////tmp/s.db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[state\n", "not valid TOML"),
        ("[nonsense]\n", "unknown section [nonsense]"),
        ('[state]\nuri = "x"\n', "unknown key 'uri' in [state]"),
        ('[state]\nurl = "not a url"\n', "[state] url must be a SQLAlchemy URL"),
        ('state = 3\n', "[state] must be a table"),
    ],
)
def test_problems_are_collected_not_raised(text, message):
    config = parse_service_config(text)
    assert not config.ok and any(message in e for e in config.errors), config.errors
    with pytest.raises(ConfigError, match="is invalid"):
        config.require_valid()


def test_unreadable_file_is_reported(tmp_path):
    path = tmp_path / "afkit.toml"
    path.write_bytes(b"\xff\xfe")
    config = load_service_config({"AFKIT_CONFIG": str(path)})
    assert not config.ok and "is not UTF-8 text" in config.errors[0]
