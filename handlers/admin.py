"""Lambda function (buffered): the admin API, `/admin/keys`, `/admin/usage`, `/admin/requests`, … (APEX_ADMIN_KEY)."""

from handlers.wiring import lambda_function

gateway, app, handler = lambda_function(["admin"], streaming=False)
