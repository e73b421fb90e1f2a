"""Structured JSON logging (structlog) on one line per event, with context bound per message.

Secrets never reach a log line: settings hold them as SecretStr, and the processor below masks any value
whose key looks like a credential as a last line of defence.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

_SECRET_KEYS = ("token", "secret", "password", "authorization", "api_key", "bearer")


def _mask_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event_dict:
        if any(part in key.lower() for part in _SECRET_KEYS) and event_dict[key] is not None:
            event_dict[key] = "***"
    return event_dict


# Libraries that log through the standard library and install handlers of their own (plain text, some on
# stderr): their records are routed through the same renderer as ours, so stdout stays one JSON object a line.
_LIBRARY_LOGGERS = ("faststream", "uvicorn", "aiokafka", "asyncio", "httpx", "httpcore", "asyncpg")


def configure_logging(service: str, *, level: str = "INFO", fmt: str = "json") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=lambda obj, **_: orjson.dumps(obj).decode())
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, _mask_secrets, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _mask_secrets,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    # Libraries' warnings and errors are kept, in the same stream and shape as ours.
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    for name in [*_LIBRARY_LOGGERS, *logging.root.manager.loggerDict]:
        if name.split(".")[0] in _LIBRARY_LOGGERS:
            library = logging.getLogger(name)
            library.handlers.clear()
            library.propagate = True
    # FastStream's routine lines (assignments, task callbacks) are noise here.
    logging.getLogger("faststream").setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
