"""State in DynamoDB: table definitions, the aioboto3-backed stores, and the embedded local server."""
