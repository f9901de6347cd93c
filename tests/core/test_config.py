from pathlib import Path

import pytest

from core.config import ConfigError, default_config_data, load_config, parse_config
from core.secrets import provider_keys
from providers import build_adapters

VALID = """
[gateway]
default_prefer = "quality"
cache_ttl_s = 0

[providers.groq]
kind = "openai"
base_url = "https://api.groq.com/openai/v1"
api_key_env = "GROQ_API_KEY"

[models."llama-3.1-8b-instant"]
context_window = 131072
price = { input = 0.05, output = 0.08 }
quality = 2
routes = [{ provider = "groq", model = "llama-3.1-8b-instant" }]

[models."old"]
deprecated = true
replacement = "llama-3.1-8b-instant"

[plans.free]
rpm = 3

[[keys]]
key = "sk-local-dev"
plan = "free"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "apex.toml"
    path.write_text(text)
    return path


def test_valid_file_loads_with_defaults_filled(tmp_path: Path) -> None:
    config = load_config(str(write(tmp_path, VALID)))
    assert config.gateway.default_prefer == "quality"
    assert config.gateway.max_request_bytes == 10 * 1024 * 1024
    assert config.models["llama-3.1-8b-instant"].price.output == 0.08
    assert config.plans["free"].rpm == 3                  # the file overrides the seed's plan
    assert config.plans["pro"].rpm == 60                  # seed plans stay available
    assert config.keys[0].plan == "free"


@pytest.mark.parametrize(("text", "key", "reason"), [
    ('[gateway]\ndefault_prefer = "fast"\n', "gateway.default_prefer", "'speed', 'quality' or 'cost'"),
    ('[providers.x]\nkind = "grok"\n', "providers.x.kind", "got 'grok'"),
    ('[providers.x]\nkind = "openai"\nbogus = 1\n', "providers.x.bogus", "Extra inputs"),
    ('[models.m]\nroutes = [{ provider = "nope", model = "m" }]\n', "models.m.routes.0.provider",
     "unknown provider 'nope'"),
    ('[models.m]\ntype = "chat"\n', "models.m", "at least one route"),
    ('[[keys]]\nkey = "sk-abcdefgh"\nplan = "gold"\n', "keys.0.plan", "unknown plan 'gold'"),
    ('[gateway]\ncache_ttl_s = -1\n', "gateway.cache_ttl_s", "greater than or equal to 0"),
])
def test_invalid_file_names_file_key_and_reason(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert caught.value.source == str(path)
    assert caught.value.key == key
    assert reason in caught.value.reason
    assert str(path) in str(caught.value) and key in str(caught.value)


def test_not_toml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(str(write(tmp_path, "[gateway\n")))
    with pytest.raises(ConfigError, match="No such file"):
        load_config(str(tmp_path / "absent.toml"))


def test_precedence_env_then_local_file_then_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("APEX_CONFIG", raising=False)
    assert "openai" in load_config().providers           # built-in defaults
    write(tmp_path, '[gateway]\nip_rpm = 7\n')
    assert load_config().gateway.ip_rpm == 7              # ./apex.toml
    other = tmp_path / "other.toml"
    other.write_text('[gateway]\nip_rpm = 9\n')
    monkeypatch.setenv("APEX_CONFIG", str(other))
    assert load_config().gateway.ip_rpm == 9              # APEX_CONFIG beats ./apex.toml
    assert load_config(str(tmp_path / "apex.toml")).gateway.ip_rpm == 7   # --config beats both


def test_default_providers_are_enabled_by_their_key_variable_read_once() -> None:
    config = parse_config(default_config_data())
    environ = {"OPENAI_API_KEY": "sk-from-env"}
    keys = provider_keys(config, environ)
    assert keys == {"openai": "sk-from-env"}
    adapters = build_adapters(config, keys)
    assert "openai" in adapters and "groq" not in adapters
    environ["GROQ_API_KEY"] = "gsk-later"                 # the config never looks again
    assert "groq" not in build_adapters(config, keys)
