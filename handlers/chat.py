"""Lambda function: `POST /v1/chat/completions`."""

from mangum import Mangum

from handlers.wiring import app_for, deployed_gateway

gateway = deployed_gateway()
app = app_for(gateway, ["chat"])
handler = Mangum(app, lifespan="off")
