"""Lambda function (streaming): POST /v1/messages, POST /v1/messages/count_tokens."""

from handlers.wiring import lambda_function

gateway, app, handler = lambda_function(["messages"], streaming=True)
