"""Lambda function (streaming): `POST /v1/chat/completions`."""

from core.lambda_runtime import StreamingHandler
from handlers.wiring import app_for, deployed_gateway, settle_heap

gateway = deployed_gateway()
app = app_for(gateway, ["chat"])
handler = StreamingHandler(app)
settle_heap()
