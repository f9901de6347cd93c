"""The gateway's own DynamoDB client: its signature is AWS's, its shapes are boto's, and it retries what
DynamoDB says to retry — against the embedded moto server, faults injected where the network is."""

from __future__ import annotations

import datetime
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from core.errors import StorageError
from core.storage.dynamo import ATTEMPTS, ConditionFailed, DynamoDB, sign
from core.storage.embedded import CREDENTIALS
from core.storage.tables import table_names
from tests.fakes.dynamodb import FaultyDynamoDB

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("token", [None, "session-token-123"])
def test_the_signature_is_the_one_botocore_makes(token: str | None) -> None:
    now = datetime.datetime(2026, 11, 22, 3, 4, 5, tzinfo=datetime.UTC)
    body = b'{"TableName": "apex-keys", "Key": {"key_hash": {"S": "abc"}}}'
    ours = sign("dynamodb.eu-west-1.amazonaws.com", "DynamoDB_20120810.GetItem", body, "eu-west-1",
                ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), now)
    request = AWSRequest("POST", "https://dynamodb.eu-west-1.amazonaws.com/", data=body,
                         headers={"content-type": "application/x-amz-json-1.0",
                                  "x-amz-target": "DynamoDB_20120810.GetItem"})
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token),
                       "dynamodb", "eu-west-1")
    with mock.patch("botocore.auth.get_current_datetime", lambda: now.replace(tzinfo=None)):
        signer.add_auth(request)
    assert ours["authorization"] == request.headers["Authorization"]
    assert ours.get("x-amz-security-token") == token


async def test_boto_shapes_round_trip_binary_included(dynamo_url: str) -> None:
    db = DynamoDB(table_names(), dynamo_url, credentials=CREDENTIALS)
    table = db.names["cache"]
    blob = bytes(range(256))
    await db.call("put_item", TableName=table, Item={"pk": {"S": "shape"}, "body": {"B": blob},
                                                      "expires_at": {"N": "1"}, "tags": {"BS": [b"a", b"\x00"]}})
    found = await db.call("get_item", TableName=table, Key={"pk": {"S": "shape"}})
    assert found["Item"]["body"] == {"B": blob} and sorted(found["Item"]["tags"]["BS"]) == [b"\x00", b"a"]
    with pytest.raises(ConditionFailed):
        await db.call("put_item", TableName=table, Item={"pk": {"S": "shape"}},
                      ConditionExpression="attribute_not_exists(pk)")
    await db.aclose()


async def test_throttling_is_retried_and_outlasting_it_is_a_storage_error(dynamo_url: str) -> None:
    db = FaultyDynamoDB(table_names(), dynamo_url, credentials=CREDENTIALS)
    key = {"key_hash": {"S": "nobody"}}
    db.fail("get_item", "keys", times=ATTEMPTS - 1)
    assert await db.call("get_item", TableName=db.names["keys"], Key=key) == {}     # the last try answered
    db.fail("get_item", "keys", kind="unreachable")
    with pytest.raises(StorageError) as caught:
        await db.call("get_item", TableName=db.names["keys"], Key=key)
    assert caught.value.message == "Storage is unreachable (get_item)" and len(db.failed) == 2 * ATTEMPTS - 1
    await db.aclose()


async def test_a_refusal_is_not_retried(dynamo_url: str) -> None:
    db = DynamoDB(table_names(), dynamo_url, credentials=CREDENTIALS)
    sent = 0
    real = db._send

    async def counted(target: str, body: bytes) -> object:
        nonlocal sent
        sent += 1
        return await real(target, body)

    db._send = counted      # type: ignore[method-assign]
    with pytest.raises(StorageError, match="Storage failed"):
        await db.call("get_item", TableName="no-such-table", Key={"pk": {"S": "x"}})
    assert sent == 1
    await db.aclose()


def test_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-env")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-env")
    assert DynamoDB({})._current_credentials() == ("AKIDENV", "secret-env", "token-env")
    assert DynamoDB({}, credentials=("given", "pair"))._current_credentials() == ("given", "pair", None)
