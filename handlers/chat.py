"""Lambda function: `POST /v1/chat/completions`."""

from mangum import Mangum

from handlers.wiring import app_for, deployed_gateway, settle_heap

gateway = deployed_gateway()
app = app_for(gateway, ["chat"])
handler = Mangum(app, lifespan="off")
settle_heap()
