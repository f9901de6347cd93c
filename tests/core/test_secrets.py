import json

import boto3
import pytest
from moto import mock_aws

from core.config import parse_config
from core.secrets import SECRET_VARIABLE, SSM_PATH_VARIABLE, SecretsError, load_provider_keys

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
    filled = load_provider_keys(CONFIG, environ)
    assert filled == ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]
    assert environ["OPENAI_API_KEY"] == "sk-from-secret"
    assert environ["ANTHROPIC_API_KEY"] == "sk-ant-from-ssm"
    assert environ["GROQ_API_KEY"] == "set"
    assert "sk-from-secret" not in caplog.text and "sk-ant-from-ssm" not in caplog.text


def test_nothing_is_fetched_when_nothing_is_named_or_missing(aws) -> None:
    assert load_provider_keys(CONFIG, {}) == []
    full = {"OPENAI_API_KEY": "a", "GROQ_API_KEY": "b", "ANTHROPIC_API_KEY": "c", SECRET_VARIABLE: "absent"}
    assert load_provider_keys(CONFIG, full) == []          # all set: the (missing) secret is never read


def test_an_unreadable_or_malformed_secret_stops_the_cold_start_without_its_value(aws) -> None:
    with pytest.raises(SecretsError, match="ResourceNotFound"):
        load_provider_keys(CONFIG, {SECRET_VARIABLE: "absent"})
    boto3.client("secretsmanager").create_secret(Name="plain", SecretString="sk-just-a-string")
    with pytest.raises(SecretsError, match="not a JSON object") as caught:
        load_provider_keys(CONFIG, {SECRET_VARIABLE: "plain"})
    assert "sk-just-a-string" not in str(caught.value)
