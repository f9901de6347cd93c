"""SEC-19: the embedded DynamoDB of `apex serve` answers only the gateway that started it."""

from __future__ import annotations

import boto3
import botocore.exceptions
import httpx
import pytest

from core.storage.embedded import EmbeddedProcess


def test_only_the_runs_own_key_and_no_browser_reach_the_embedded_dynamodb() -> None:
    embedded = EmbeddedProcess(access_key="k" * 32)
    url = embedded.start()
    try:
        def client(key: str):
            return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                                aws_secret_access_key=key)

        assert client("k" * 32).list_tables()["TableNames"]                     # the gateway's own
        with pytest.raises(botocore.exceptions.ClientError, match="UnrecognizedClient"):
            client("embedded").list_tables()                                       # anyone else
        page = httpx.post(url, headers={"Origin": "http://evil.example", "X-Amz-Target": "DynamoDB_20120810.Scan",
                                        "content-type": "application/x-amz-json-1.0"}, content=b'{"TableName": "x"}')
        assert page.status_code == 403 and "access-control-allow-origin" not in page.headers   # a web page
    finally:
        embedded.stop()
