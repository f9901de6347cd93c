"""Provider keys and the admin key from Secrets Manager or SSM Parameter Store, read once per cold
start.

A provider's key lives in the variable its `api_key_env` names. On Lambda the template can name a
Secrets Manager secret (`APEX_PROVIDER_KEYS_SECRET`, a JSON object of variable → key) and/or an
SSM path (`APEX_PROVIDER_KEYS_SSM_PATH`, SecureString parameters named after the variables). A
variable that is set wins; the rest are filled from there, into a mapping handed to the adapters. The admin key is
`APEX_ADMIN_KEY`, else the secret `APEX_ADMIN_KEY_SECRET` names (its whole string), else the
SecureString parameter `APEX_ADMIN_KEY_SSM_PARAMETER` names. Values are never logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from core.config import Config
from core.keys import undeployable

SECRET_VARIABLE = "APEX_PROVIDER_KEYS_SECRET"
SSM_PATH_VARIABLE = "APEX_PROVIDER_KEYS_SSM_PATH"
ADMIN_KEY_VARIABLE = "APEX_ADMIN_KEY"
ADMIN_SECRET_VARIABLE = "APEX_ADMIN_KEY_SECRET"
ADMIN_SSM_VARIABLE = "APEX_ADMIN_KEY_SSM_PARAMETER"


class SecretsError(Exception):
    """Stops a cold start: the named secret or path could not be read (the reason, never a value)."""


def _from_secret(client: Any, secret_id: str) -> dict[str, str]:
    value = client.get_secret_value(SecretId=secret_id)["SecretString"]
    try:
        keys = json.loads(value)
    except json.JSONDecodeError:
        raise SecretsError(f"secret {secret_id!r} is not a JSON object of variable names to keys") from None
    if not isinstance(keys, dict):
        raise SecretsError(f"secret {secret_id!r} is not a JSON object of variable names to keys")
    return {str(k): str(v) for k, v in keys.items()}


def _from_ssm(client: Any, path: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for page in client.get_paginator("get_parameters_by_path").paginate(Path=path, WithDecryption=True):
        for parameter in page["Parameters"]:
            found[parameter["Name"].rsplit("/", 1)[-1]] = parameter["Value"]
    return found


def provider_keys(config: Config, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Each provider's key, by provider name: the variable its `api_key_env` names, else the named
    secret or path. Read once, by the composition root; nothing is written back to the environment."""
    variables = {name: p.api_key_env for name, p in config.providers.items() if p.api_key_env}
    found = {var: environ[var] for var in set(variables.values()) if environ.get(var)}
    missing = set(variables.values()) - found.keys()
    secret_id, path = environ.get(SECRET_VARIABLE), environ.get(SSM_PATH_VARIABLE)
    if missing and (secret_id or path):
        fetched = _fetched(secret_id, path)
        found.update({var: fetched[var] for var in missing if var in fetched})
    return {name: found[var] for name, var in variables.items() if var in found}


def _fetched(secret_id: str | None, path: str | None) -> dict[str, str]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    found: dict[str, str] = {}
    try:
        if path:
            found.update(_from_ssm(boto3.client("ssm"), path))
        if secret_id:
            found.update(_from_secret(boto3.client("secretsmanager"), secret_id))
    except (BotoCoreError, ClientError) as exc:
        raise SecretsError(f"could not read provider keys: {type(exc).__name__}: {exc}") from None
    return found


def load_admin_key(environ: Mapping[str, str] = os.environ) -> str | None:
    """The admin API's key, or None (the admin API off). One read from a secret or parameter must be
    a key fit for the internet: not a published one, 32 characters or more."""
    if key := environ.get(ADMIN_KEY_VARIABLE):
        return key
    secret_id, parameter = environ.get(ADMIN_SECRET_VARIABLE), environ.get(ADMIN_SSM_VARIABLE)
    if not (secret_id or parameter):
        return None
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if secret_id:
            key = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"].strip()
            source = f"secret {secret_id!r}"
        else:
            answer = boto3.client("ssm").get_parameter(Name=parameter, WithDecryption=True)
            key, source = answer["Parameter"]["Value"].strip(), f"parameter {parameter!r}"
    except (BotoCoreError, ClientError) as exc:
        raise SecretsError(f"could not read the admin key: {type(exc).__name__}: {exc}") from None
    if problem := undeployable(key):
        raise SecretsError(f"the admin key in {source} is refused: {problem}")
    return key
