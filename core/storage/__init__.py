"""State in DynamoDB: table definitions, the client and the stores on it, and the embedded local server."""
