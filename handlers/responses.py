"""Lambda function (streaming): POST /v1/responses."""

from handlers.wiring import lambda_function

gateway, app, handler = lambda_function(["responses"], streaming=True)
