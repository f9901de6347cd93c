"""Lambda function (streaming): POST /v1/chat/completions."""

from handlers.wiring import lambda_function

gateway, app, handler = lambda_function(["chat"], streaming=True)
