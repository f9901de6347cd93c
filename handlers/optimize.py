"""Lambda function (buffered): `POST /v1/optimize` (prompt compression, the AptRouter seed's API)."""

from handlers.wiring import lambda_function

gateway, app, handler = lambda_function(["optimize"], streaming=False)
