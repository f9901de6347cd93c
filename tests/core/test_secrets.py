import json

import boto3
import pytest
from moto import mock_aws

from core.config import parse_config
from core.secrets import (
    ADMIN_SECRET_VARIABLE,
    ADMIN_SSM_VARIABLE,
    SECRET_VARIABLE,
    SSM_PATH_VARIABLE,
    SecretsError,
    load_admin_key,
    provider_keys,
)

CONFIG = parse_config({"providers": {
    "openai": {"api_key_env": "OPENAI_API_KEY"},
    "groq": {"api_key_env": "GROQ_API_KEY"},
    "anthropic": {"kind": "anthropic", "api_key_env": "ANTHROPIC_API_KEY"},
    "local": {"base_url": "http://127.0.0.1:1/v1"},
}})


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def test_unset_variables_are_filled_from_the_secret_and_the_path_and_set_ones_win(aws, caplog) -> None:
    boto3.client("secretsmanager").create_secret(
        Name="apex/providers", SecretString=json.dumps({"OPENAI_API_KEY": "sk-from-secret", "GROQ_API_KEY": "g"}))
    boto3.client("ssm").put_parameter(Name="/apex/providers/ANTHROPIC_API_KEY", Value="sk-ant-from-ssm",
                                      Type="SecureString")
    environ = {SECRET_VARIABLE: "apex/providers", SSM_PATH_VARIABLE: "/apex/providers", "GROQ_API_KEY": "set"}
    before = dict(environ)
    keys = provider_keys(CONFIG, environ)
    assert keys == {"openai": "sk-from-secret", "anthropic": "sk-ant-from-ssm", "groq": "set"}
    assert environ == before                               # read, never written back
    assert "sk-from-secret" not in caplog.text and "sk-ant-from-ssm" not in caplog.text


def test_nothing_is_fetched_when_nothing_is_named_or_missing(aws) -> None:
    assert provider_keys(CONFIG, {}) == {}
    full = {"OPENAI_API_KEY": "a", "GROQ_API_KEY": "b", "ANTHROPIC_API_KEY": "c", SECRET_VARIABLE: "absent"}
    assert provider_keys(CONFIG, full) == {"openai": "a", "groq": "b", "anthropic": "c"}   # the secret: never read


def test_an_unreadable_or_malformed_secret_stops_the_cold_start_without_its_value(aws) -> None:
    with pytest.raises(SecretsError, match="ResourceNotFound"):
        provider_keys(CONFIG, {SECRET_VARIABLE: "absent"})
    boto3.client("secretsmanager").create_secret(Name="plain", SecretString="sk-just-a-string")
    with pytest.raises(SecretsError, match="not a JSON object") as caught:
        provider_keys(CONFIG, {SECRET_VARIABLE: "plain"})
    assert "sk-just-a-string" not in str(caught.value)


ADMIN = "sk-admin-" + "x1y2z3" * 6


def test_the_admin_key_comes_from_the_variable_else_the_secret_else_the_parameter(aws) -> None:
    boto3.client("secretsmanager").create_secret(Name="apex/admin", SecretString=ADMIN + "\n")
    boto3.client("ssm").put_parameter(Name="/apex/admin-key", Value=ADMIN.upper(), Type="SecureString")
    assert load_admin_key({}) is None                                  # the admin API off
    assert load_admin_key({ADMIN_SECRET_VARIABLE: "apex/admin"}) == ADMIN
    assert load_admin_key({ADMIN_SSM_VARIABLE: "/apex/admin-key"}) == ADMIN.upper()
    assert load_admin_key({"APEX_ADMIN_KEY": "local", ADMIN_SSM_VARIABLE: "/apex/admin-key"}) == "local"


@pytest.mark.parametrize("value", ["sk-local-dev-key", "short-but-random"])
def test_a_published_or_short_admin_key_in_a_secret_is_refused_without_being_shown(aws, value) -> None:
    boto3.client("ssm").put_parameter(Name="/apex/weak", Value=value, Type="SecureString")
    with pytest.raises(SecretsError, match="refused") as refused:
        load_admin_key({ADMIN_SSM_VARIABLE: "/apex/weak"})
    assert ("published" in str(refused.value)) == (value == "sk-local-dev-key")
    if value != "sk-local-dev-key":
        assert value not in str(refused.value)


def test_an_unreadable_admin_key_stops_the_cold_start(aws) -> None:
    with pytest.raises(SecretsError, match="could not read the admin key: ResourceNotFound"):
        load_admin_key({ADMIN_SECRET_VARIABLE: "absent"})
