"""Lambda function (buffered): POST /v1/images/generations."""

from handlers.wiring import lambda_function

gateway, app, handler = lambda_function(["images"], streaming=False)
