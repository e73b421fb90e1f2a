"""`aurora-gateway`: serve the webhook ingress (GATEWAY_PORT, default 8080)."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings
from pipeline_common.logs import configure_logging
from pipeline_common.settings import ServiceSettings


def main() -> None:
    service = ServiceSettings()
    settings = GatewaySettings()
    configure_logging("gateway", level=service.log_level, fmt=service.log_format)
    # Several workers share the port (SO_REUSEPORT via uvicorn's supervisor); each has its own producer.
    uvicorn.run(
        "gateway.app:create_worker_app" if settings.workers > 1 else create_app(settings),
        factory=settings.workers > 1,
        workers=settings.workers,
        host=service.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        # Its records go through configure_logging's handler (JSON lines), not uvicorn's own text formatter.
        log_config=None,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
