"""The AsyncAPI 3.0 document of every topic, generated from the pydantic contracts (the one source of truth).

`make asyncapi` writes it to libs/common/asyncapi.json; the gateway serves it at /asyncapi.json.
"""

from __future__ import annotations

from typing import Any

import orjson

from pipeline_common import topics
from pipeline_common.events import Contract, ImportRequested, ProjectFetched, ProjectImported, WebhookReceived

CONTRACTS: tuple[type[Contract], ...] = (WebhookReceived, ImportRequested, ProjectFetched, ProjectImported)

PRODUCERS = {
    topics.WEBHOOK_RECEIVED: ("gateway", "trigger_filter"),
    topics.IMPORT_REQUESTED: ("trigger_filter, admin (re-sync, backfill)", "fetcher"),
    topics.PROJECT_FETCHED: ("fetcher", "importer"),
    topics.PROJECT_IMPORTED: ("importer (through its outbox)", "any service: the public contract"),
}

CLOUDEVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes, Kafka protocol binding (binary mode)",
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "event id, derived deterministically from the input's id"},
        "ce_source": {"type": "string", "examples": ["/gateway", "/importer"]},
        "ce_type": {"type": "string"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "the Aurora project id (or CRM project id)"},
        "content-type": {"type": "string", "const": "application/json"},
        "traceparent": {
            "type": "string",
            "description": "W3C trace context (OpenTelemetry): every stage's "
            "message continues the trace of the message it came from",
        },
    },
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"],
}

FAILURE_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "The original message's headers plus the failure: retry topics carry x-attempt and "
    "x-not-before; dead-letter topics carry x-error, x-error-code, x-stage, x-attempt, x-failed-at, "
    "x-original-topic. The body is the original message, byte for byte.",
    "properties": {
        name: {"type": "string"}
        for name in (
            "x-attempt",
            "x-not-before",
            "x-error",
            "x-error-code",
            "x-stage",
            "x-failed-at",
            "x-original-topic",
        )
    },
}


def document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for contract in CONTRACTS:
        name = contract.__name__
        schema = contract.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas[def_name] = definition
        schemas[name] = schema
        producer, consumer = PRODUCERS[contract.topic]
        messages[name] = {
            "name": name,
            "title": contract.ce_type,
            "contentType": "application/json",
            "headers": CLOUDEVENT_HEADERS,
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "description": (contract.__doc__ or "").strip(),
        }
        key = contract.topic.replace(".", "_")
        channels[key] = {
            "address": contract.topic,
            "description": f"Produced by {producer}; consumed by {consumer}. "
            "Key: `<integration_id>:<aurora_project_id>`.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"publish_{key}"] = {"action": "send", "channel": {"$ref": f"#/channels/{key}"}}
        if contract.topic in topics.CONSUMED:
            for kind, address in (
                ("retry", topics.retry_topic(contract.topic)),
                ("dlq", topics.dlq_topic(contract.topic)),
            ):
                channels[f"{key}_{kind}"] = {
                    "address": address,
                    "description": ("Delayed redelivery: " if kind == "retry" else "Dead letters: ")
                    + f"messages of `{contract.topic}` that failed in {consumer}.",
                    "messages": {
                        f"{name}Failed": {
                            "name": f"{name}Failed",
                            "contentType": "application/json",
                            "headers": FAILURE_HEADERS,
                            "payload": {"$ref": f"#/components/schemas/{name}"},
                        }
                    },
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Aurora Solar → CRM import pipeline",
            "version": "1.0.0",
            "description": "Topics of the pipeline. `project.imported` is the public contract "
            "(schema_version 1): other services may consume it; it only changes compatibly.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> bytes:
    return orjson.dumps(document(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def main() -> None:
    import sys

    target = sys.argv[1] if len(sys.argv) > 1 else "-"
    data = render()
    if target == "-":
        sys.stdout.buffer.write(data + b"\n")
    else:
        with open(target, "wb") as f:
            f.write(data + b"\n")
        print(f"wrote {target} ({len(document()['channels'])} channels)")


if __name__ == "__main__":
    main()
