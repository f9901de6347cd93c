"""Lambda function (buffered): POST /v1/embeddings."""

from handlers.wiring import lambda_function

gateway, app, handler = lambda_function(["embeddings"], streaming=False)
