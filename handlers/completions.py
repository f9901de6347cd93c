"""Lambda function (streaming): POST /v1/completions (legacy)."""

from handlers.wiring import lambda_function

gateway, app, handler = lambda_function(["completions"], streaming=True)
