"""Lambda function: `GET /v1/models`, `GET /v1/models/{id}`."""

from mangum import Mangum

from handlers.wiring import app_for, deployed_gateway, settle_heap

gateway = deployed_gateway()
app = app_for(gateway, ["models"])
handler = Mangum(app, lifespan="off")
settle_heap()
