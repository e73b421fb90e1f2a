"""`aurora-admin`: serve the admin API with uvicorn on ADMIN_PORT."""

from __future__ import annotations

import uvicorn

from admin.app import create_app
from admin.settings import AdminSettings
from pipeline_common.logs import configure_logging


def main() -> None:
    settings = AdminSettings()
    configure_logging("admin", level=settings.service.log_level, fmt=settings.service.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.service.host,
        port=settings.port,
        log_level=settings.service.log_level.lower(),
        access_log=False,
        # Its records go through configure_logging's handler (JSON lines), not uvicorn's own text formatter.
        log_config=None,
    )


if __name__ == "__main__":
    main()
