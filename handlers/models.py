"""Lambda function (buffered): GET /v1/models, GET /v1/models/{id}."""

from handlers.wiring import lambda_function

gateway, app, handler = lambda_function(["models"], streaming=False)
