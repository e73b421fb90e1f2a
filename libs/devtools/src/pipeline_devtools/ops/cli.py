"""`pipeline-ops`: inspect and operate the pipeline's topics — lag, tail, trace an event, dead letters.

Reads Kafka at KAFKA_BOOTSTRAP_SERVERS and PostgreSQL at DATABASE_URL. Inspection commands never commit
offsets, so they never disturb the stages.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
import orjson
import typer
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.table import Table

from pipeline_common import topics
from pipeline_common.events import derive_event_id
from pipeline_common.settings import DatabaseSettings, KafkaSettings
from pipeline_common.stage import REPLAYED_HEADER
from pipeline_devtools.ops.kafka_view import Record, group_lag, scan, topic_offsets
from pipeline_devtools.ops.replay import Followed, Verdict, follow, mark

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
dlq_app = typer.Typer(
    help="Dead-letter topics: list messages with their errors, replay them after a fix.", no_args_is_help=True
)
app.add_typer(dlq_app, name="dlq")
console = Console()


def _bootstrap() -> str:
    return KafkaSettings().bootstrap_servers


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@app.command("topics")
def topics_command() -> None:
    """Topics with partitions and end offsets, then every consumer group's lag per partition."""

    async def run() -> None:
        ends = await topic_offsets(_bootstrap(), list(topics.every_topic()))
        table = Table(title="topics")
        for column in ("topic", "partitions", "messages (end offsets)"):
            table.add_column(column)
        for topic in topics.every_topic():
            parts = {tp: o for tp, o in ends.items() if tp.topic == topic}
            table.add_row(topic, str(len(parts)), str(sum(parts.values())))
        console.print(table)
        lag_table = Table(title="consumer groups")
        for column in ("group", "topic", "partition", "committed", "end", "lag"):
            lag_table.add_column(
                column, justify="right" if column in ("partition", "committed", "end", "lag") else "left"
            )
        for group, rows in (await group_lag(_bootstrap())).items():
            for row in rows:
                style = "bold red" if row.lag > 1000 else None
                lag_table.add_row(
                    group,
                    row.topic,
                    str(row.partition),
                    str(row.committed),
                    str(row.end_offset),
                    str(row.lag),
                    style=style,
                )
        console.print(lag_table)

    asyncio.run(run())


def _matches(record: Record, company: str | None, project: str | None) -> bool:
    body = record.body()
    if not isinstance(body, dict):
        return company is None and project is None
    if company and body.get("company_id") != company:
        return False
    return not (project and project not in (body.get("aurora_project_id"), record.headers.get("ce_subject")))


def _print_record(record: Record, full: bool) -> None:
    body = record.body()
    head = (
        f"[bold]{record.topic}[/bold] p{record.partition}@{record.offset} {_when(record.timestamp_ms)} "
        f"{record.headers.get('ce_type', '')} id={record.headers.get('ce_id', '')}"
    )
    console.print(head)
    if isinstance(body, dict) and not full:
        body = {k: v for k, v in body.items() if k not in ("snapshot",)}
    console.print_json(orjson.dumps(body).decode())
    errors = {k: v for k, v in record.headers.items() if k.startswith("x-")}
    if errors:
        console.print(errors)


@app.command()
def tail(
    topic: Annotated[str, typer.Argument(help="e.g. project.imported, aurora.webhook.received.dlq")],
    company: Annotated[str | None, typer.Option(help="only this company id")] = None,
    project: Annotated[str | None, typer.Option(help="only this Aurora project id")] = None,
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="start at the oldest message")] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep waiting for new messages")] = False,
    limit: Annotated[int, typer.Option("-n", help="stop after this many messages")] = 20,
    full: Annotated[bool, typer.Option(help="include the fetched snapshot")] = False,
) -> None:
    """Pretty-print a topic's messages (filtered by company or Aurora project)."""

    async def run() -> None:
        shown = 0
        async for record in scan(_bootstrap(), topic, from_beginning=from_beginning or not follow, follow=follow):
            if _matches(record, company, project):
                _print_record(record, full)
                shown += 1
                if shown >= limit:
                    break
        console.print(f"[dim]{shown} message(s)[/dim]")

    asyncio.run(run())


@app.command()
def find(
    event_id: Annotated[str, typer.Argument(help="a webhook's event id (or any stage's event id)")],
    max_messages: Annotated[int, typer.Option(help="scan at most this many messages per topic")] = 200_000,
) -> None:
    """Where an event is in the pipeline: its derived ids per stage, log entries, and the topics holding it."""
    import_id = derive_event_id(event_id, "import")
    fetch_id = derive_event_id(import_id, "fetch")
    imported_id = derive_event_id(fetch_id, "import")
    ids = {
        event_id: "given",
        import_id: "import requested",
        fetch_id: "project fetched",
        imported_id: "project imported",
    }

    async def run() -> None:
        table = Table(title=f"event {event_id}")
        for column in ("where", "what", "when", "detail"):
            table.add_column(column)
        try:
            conn = await asyncpg.connect(DatabaseSettings().database_url.get_secret_value())
        except (OSError, asyncpg.PostgresError) as exc:
            console.print(f"[yellow]database unavailable ({exc}); topics only[/yellow]")
        else:
            try:
                rows = await conn.fetch(
                    "SELECT created_at, kind, action, message, crm_project_id FROM integration_log "
                    "WHERE event_id = ANY($1::text[]) OR details->>'import_event_id' = ANY($1::text[]) ORDER BY id",
                    list(ids),
                )
                for r in rows:
                    table.add_row(
                        "integration log",
                        f"{r['kind']} {r['action'] or ''}",
                        str(r["created_at"]),
                        f"{r['message']}" + (f" → project {r['crm_project_id']}" if r["crm_project_id"] else ""),
                    )
                done = await conn.fetch(
                    "SELECT stage, processed_at FROM processed_events WHERE event_id = ANY($1::text[])", list(ids)
                )
                for r in done:
                    table.add_row("processed", r["stage"], str(r["processed_at"]), "")
            finally:
                await conn.close()
        for topic in topics.every_topic():
            async for record in scan(_bootstrap(), topic, limit=max_messages):
                ce_id = record.headers.get("ce_id", "")
                body = record.body()
                body_id = body.get("event_id") if isinstance(body, dict) else None
                hit = ids.get(ce_id) or ids.get(body_id or "")
                if hit:
                    detail = record.headers.get("x-error", "")[:120]
                    table.add_row(
                        f"{topic} p{record.partition}@{record.offset}", hit, _when(record.timestamp_ms), detail
                    )
        console.print(table)

    asyncio.run(run())


@dlq_app.command("list")
def dlq_list(
    topic: Annotated[str | None, typer.Option(help="a consumed topic; default: all")] = None,
    limit: Annotated[int, typer.Option("-n")] = 50,
) -> None:
    """Dead-lettered messages with their stage, error, attempts and offsets (for `replay`)."""

    async def run() -> None:
        table = Table(title="dead letters")
        for column in ("dlq", "offset", "failed at", "stage", "code", "attempts", "event id", "error"):
            table.add_column(column, overflow="fold")
        count = 0
        for base in [_consumed_topic(topic)] if topic else list(topics.CONSUMED):
            async for record in scan(_bootstrap(), topics.dlq_topic(base)):
                h = record.headers
                failed = float(h.get("x-failed-at", "0") or 0)
                table.add_row(
                    record.topic,
                    f"p{record.partition}@{record.offset}",
                    datetime.fromtimestamp(failed, UTC).strftime("%Y-%m-%d %H:%M:%S") if failed else "",
                    h.get("x-stage", ""),
                    h.get("x-error-code", ""),
                    h.get("x-attempt", ""),
                    h.get("ce_id", ""),
                    h.get("x-error", "")[:300],
                )
                count += 1
                if count >= limit:
                    break
        console.print(table)
        console.print(f"{count} dead letter(s) shown")

    asyncio.run(run())


@dlq_app.command("replay")
def dlq_replay(
    topic: Annotated[str, typer.Argument(help="the consumed topic whose DLQ to replay, e.g. aurora.project.fetched")],
    offset: Annotated[list[str] | None, typer.Option(help="only these messages, as p<partition>@<offset>")] = None,
    all_messages: Annotated[bool, typer.Option("--all", help="replay every message in the DLQ")] = False,
    wait: Annotated[
        float, typer.Option(help="seconds to follow each replayed message through the stages (0: do not follow)")
    ] = 60.0,
) -> None:
    """Send dead letters back to their original topic (after fixing the cause) and report what the stages did.

    Safe to repeat: every stage derives its ids from the message's id, so a replayed message that had in
    fact been applied changes nothing. Each message is then followed through the derived events on the later
    topics, the dead-letter topics and the integration log for up to --wait seconds. Exit status 1 when a
    message failed again or showed no outcome within the wait.
    """
    if not offset and not all_messages:
        raise typer.BadParameter("name messages with --offset p0@12 (repeatable) or pass --all")
    wanted = set(offset or ())
    topic = _consumed_topic(topic)

    async def run() -> int:
        conn = await _connect_database() if wait > 0 else None
        try:
            since = await mark(_bootstrap(), conn) if wait > 0 else None
            followed = await _send_back(topic, wanted, all_messages)
            missing = wanted - {f.position for f in followed}
            for position in sorted(missing):
                console.print(f"[yellow]no message at {position} in {topics.dlq_topic(topic)}[/yellow]")
            console.print(f"{len(followed)} message(s) sent back")
            if since is None or not followed:
                if followed:
                    console.print("[yellow]not followed (--wait 0): the outcome is unknown[/yellow]")
                return 1 if missing else 0
            await follow(_bootstrap(), conn, since, followed, wait_seconds=wait)
        finally:
            if conn is not None:
                await conn.close()
        for item in followed:
            colour = {Verdict.IMPORTED: "green", Verdict.STOPPED: "yellow"}.get(item.verdict, "red")
            console.print(f"[{colour}]{item.position} event {item.event_id}: {item.summary()}[/{colour}]")
            for line in [*item.reached, *item.log]:
                console.print(f"    {line}")
        bad = [f for f in followed if f.verdict in (Verdict.FAILED_AGAIN, Verdict.NO_OUTCOME)]
        return 1 if bad or missing else 0

    code = asyncio.run(run())
    if code:
        raise typer.Exit(code)


def _consumed_topic(name: str) -> str:
    for candidate in (name, topics.PREFIX + name):
        if candidate in topics.CONSUMED:
            return candidate
    raise typer.BadParameter(f"{name} is not a consumed topic; one of: {', '.join(topics.CONSUMED)}")


async def _connect_database() -> asyncpg.Connection[Any] | None:
    try:
        return await asyncpg.connect(DatabaseSettings().database_url.get_secret_value())
    except (OSError, asyncpg.PostgresError) as exc:
        console.print(f"[yellow]database unavailable ({exc}); following topics only[/yellow]")
        return None


async def _send_back(topic: str, wanted: set[str], all_messages: bool) -> list[Followed]:
    producer = AIOKafkaProducer(bootstrap_servers=_bootstrap(), acks="all", enable_idempotence=True)
    await producer.start()
    sent: list[Followed] = []
    try:
        async for record in scan(_bootstrap(), topics.dlq_topic(topic)):
            position = f"p{record.partition}@{record.offset}"
            if not all_messages and position not in wanted:
                continue
            target = record.headers.get("x-original-topic", topic)
            headers = [(k, v.encode()) for k, v in record.headers.items() if not k.startswith("x-")]
            headers.append((REPLAYED_HEADER, f"{time.time():.3f}".encode()))
            await producer.send_and_wait(
                target, record.value, key=record.key.encode() if record.key else None, headers=headers
            )
            event_id = record.headers.get("ce_id", "?")
            sent.append(Followed(position=position, topic=target, event_id=event_id))
            console.print(f"sent {position} back to {target} (event {event_id})")
    finally:
        await producer.stop()
    return sent


def main() -> None:
    app()


if __name__ == "__main__":
    main()
