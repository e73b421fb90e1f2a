"""`aurora-admin-cli`: operator commands that work on the database named by DATABASE_URL."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated, Any

import asyncpg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from admin import backfill
from admin.backfill import estimated_seconds_left
from admin.security import create_company
from admin.settings import AdminSettings
from admin.store import rotate_token_keys
from pipeline_common.database import create_pool
from pipeline_common.secrets import TokenCipher

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console()


async def _pool(settings: AdminSettings) -> asyncpg.Pool[Any]:
    try:
        return await create_pool(settings.database)
    except (OSError, asyncpg.PostgresError) as exc:
        console.print(f"[red]cannot reach PostgreSQL at DATABASE_URL: {exc}[/red]")
        raise typer.Exit(1) from exc


@app.command("create-company")
def create_company_cmd(name: Annotated[str, typer.Argument(help="the company's display name")]) -> None:
    """Create a company and print its API key (shown once; only its hash is stored)."""
    if not name.strip() or len(name.strip()) > 200:
        console.print("[red]the name must have 1 to 200 characters[/red]")
        raise typer.Exit(2)

    async def run() -> tuple[uuid.UUID, str]:
        pool = await _pool(AdminSettings())
        try:
            async with pool.acquire() as conn:
                return await create_company(conn, name.strip())
        finally:
            await pool.close()

    company_id, key = asyncio.run(run())
    console.print(f"company id: {company_id}")
    console.print(f"API key (store it now, it is not shown again): {key}", soft_wrap=True)


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored Aurora token under the first key of TOKEN_ENCRYPTION_KEYS."""

    async def run() -> int:
        settings = AdminSettings()
        pool = await _pool(settings)
        try:
            return await rotate_token_keys(pool, TokenCipher.from_settings(settings.crypto))
        finally:
            await pool.close()

    count = asyncio.run(run())
    console.print(f"re-encrypted {count} token(s) under the first configured key; older keys can now be removed")


@app.command("backfill-progress")
def backfill_progress(
    backfill_id: Annotated[uuid.UUID, typer.Argument(help="the id POST .../backfill returned")],
    interval: Annotated[float, typer.Option(help="seconds between polls")] = 1.0,
) -> None:
    """Show a backfill's progress as a progress bar until it completes or fails."""

    async def run() -> None:
        pool = await _pool(AdminSettings())
        try:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("backfill", total=None, detail="")
                while True:
                    row = await backfill.refresh(pool, backfill_id)
                    if row is None:
                        console.print(f"[red]no backfill {backfill_id}[/red]")
                        raise typer.Exit(1)
                    done = row["imported"] + row["skipped"] + row["failed"]
                    eta = estimated_seconds_left(row)
                    walking = row["scan_finished_at"] is None and row["status"] == "running"
                    progress.update(
                        task,
                        total=row["found"] if not walking else None,
                        completed=done,
                        description=f"backfill {row['status']}" + (" (walking Aurora)" if walking else ""),
                        detail=f"scanned {row['scanned']} · found {row['found']} · queued {row['queued']} · "
                        f"imported {row['imported']} · skipped {row['skipped']} · failed {row['failed']}"
                        + (f" · ~{eta:.0f}s left" if eta else ""),
                    )
                    if row["status"] != "running":
                        if row["status"] == "failed":
                            console.print(f"[red]failed: {row['error']}[/red]")
                            raise typer.Exit(1)
                        return
                    started = time.monotonic()
                    await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
        finally:
            await pool.close()

    asyncio.run(run())


def main() -> None:
    app()
