"""Settings: declared once with help, typed, layered defaults < settings.toml < env < overrides."""

from __future__ import annotations

import pytest

from node.settings import SETTINGS, SettingsError, load_settings, write_settings_file


def test_every_setting_is_documented_and_has_a_default_of_its_type():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names)), "a setting is declared twice"
    for s in SETTINGS:
        assert s.help.strip() and len(s.help) > 15, f"{s.name} has no real help text"
        assert s.type in (str, int, bool), s.name
        assert type(s.default) is s.type, f"{s.name}: default {s.default!r} is not a {s.type.__name__}"
        assert s.name.isidentifier() and s.name == s.name.lower(), s.name


def test_defaults_apply_without_file_env_or_overrides(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    for s in SETTINGS:
        if s.name != "data_dir":
            assert getattr(settings, s.name) == s.default, s.name
    assert settings.data_path == tmp_path
    assert settings.db_url == f"sqlite:///{(tmp_path / 'node.db').resolve()}"


def test_file_then_env_then_overrides_in_rising_precedence(tmp_path):
    (tmp_path / "settings.toml").write_text(
        'node_id = "from-file"\nport = 6001\nunit = "from-file"\nwelcome_grant = 11\n'
    )
    environ = {
        "SIFNET_DATA_DIR": str(tmp_path),
        "SIFNET_PORT": "6002",
        "SIFNET_UNIT": "from-env",
        "SIFNET_REQUIRE_APPROVAL": "no",
    }
    settings = load_settings({"unit": "from-override"}, environ=environ)
    assert settings.node_id == "from-file"  # file only
    assert settings.welcome_grant == 11
    assert settings.port == 6002  # env beats file
    assert settings.unit == "from-override"  # override beats env and file
    assert settings.require_approval is False
    assert settings.country == "BE"  # untouched default


def test_data_dir_override_beats_env(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "settings.toml").write_text('node_id = "a"\n')
    settings = load_settings({"data_dir": str(tmp_path / "a")}, environ={"SIFNET_DATA_DIR": str(tmp_path / "b")})
    assert settings.node_id == "a" and settings.data_path == tmp_path / "a"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("", False),
    ],
)
def test_boolean_env_values(tmp_path, raw, expected):
    settings = load_settings({"data_dir": str(tmp_path)}, environ={"SIFNET_ALLOW_CLOCK_CONTROL": raw})
    assert settings.allow_clock_control is expected


@pytest.mark.parametrize(
    "overrides, environ, message",
    [
        ({"no_such_setting": 1}, {}, "unknown settings: no_such_setting"),
        ({}, {"SIFNET_PORT": "eighty"}, "setting port: expected an integer, got 'eighty'"),
        ({}, {"SIFNET_REQUIRE_APPROVAL": "maybe"}, "setting require_approval: expected a boolean, got 'maybe'"),
        ({"port": True}, {}, "setting port: expected an integer, got True"),
        ({"port": 80.5}, {}, "setting port: expected an integer, got 80.5"),
        ({"node_id": 7}, {}, "setting node_id: expected a string, got 7"),
    ],
)
def test_unknown_names_and_bad_types_are_refused_clearly(tmp_path, overrides, environ, message):
    with pytest.raises(SettingsError) as err:
        load_settings({"data_dir": str(tmp_path), **overrides}, environ=environ)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "toml, message",
    [
        ('colour = "red"\n', "unknown setting 'colour'"),
        ("welcome_grant = 2.5\n", "setting welcome_grant: expected an integer, got 2.5"),
        ('require_approval = "perhaps"\n', "setting require_approval: expected a boolean"),
    ],
)
def test_bad_settings_file_is_refused_clearly(tmp_path, toml, message):
    (tmp_path / "settings.toml").write_text(toml)
    with pytest.raises(SettingsError) as err:
        load_settings({"data_dir": str(tmp_path)}, environ={})
    assert message in str(err.value)


def test_replace_coerces_and_refuses_unknown_names(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    assert settings.replace(port="7000").port == 7000
    assert settings.port == 5000  # frozen: replace returns a new object
    with pytest.raises(SettingsError, match="unknown settings: colour"):
        settings.replace(colour="red")


def test_written_settings_file_round_trips(tmp_path):
    values = {
        "node_id": "hu",
        "node_name": 'Magyar "SIF" \\ hálózat',
        "port": 6123,
        "require_approval": False,
        "welcome_grant": 0,
        "min_balance": -12,
        "data_dir": str(tmp_path),
    }
    write_settings_file(tmp_path / "settings.toml", values)
    text = (tmp_path / "settings.toml").read_text(encoding="utf-8")
    for s in SETTINGS:
        assert f"# {s.help}" in text, f"{s.name}'s help is not written"
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    for s in SETTINGS:
        assert getattr(settings, s.name) == values.get(s.name, s.default), s.name
    # The commented-out defaults become live settings once uncommented.
    uncommented = "\n".join(line[2:] if line.startswith("# ") and " = " in line else line for line in text.splitlines())
    (tmp_path / "settings.toml").write_text(uncommented, encoding="utf-8")
    assert load_settings({"data_dir": str(tmp_path)}, environ={}).values == {
        s.name: values.get(s.name, s.default) for s in SETTINGS
    }
