"""Lambda function (buffered): GET /v1/responses/{id}, GET /v1/responses/{id}/input_items, DELETE /v1/responses/{id}."""

from handlers.wiring import lambda_function

gateway, app, handler = lambda_function(["stored_responses"], streaming=False)
