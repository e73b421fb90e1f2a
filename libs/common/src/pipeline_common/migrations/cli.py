"""`pipeline-migrate`: bring the database named by DATABASE_URL up to the newest schema."""

from __future__ import annotations

import asyncio

import asyncpg
import typer

from pipeline_common.migrations.runner import available, migrate
from pipeline_common.settings import DatabaseSettings

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def run() -> None:
    """Apply every pending migration (safe to run repeatedly and concurrently)."""

    async def _run() -> list[str]:
        settings = DatabaseSettings()
        try:
            conn = await asyncpg.connect(settings.database_url.get_secret_value())
        except (OSError, asyncpg.PostgresError) as exc:
            typer.echo(f"cannot reach PostgreSQL at DATABASE_URL: {exc}", err=True)
            raise typer.Exit(1) from exc
        try:
            return await migrate(conn)
        finally:
            await conn.close()

    applied = asyncio.run(_run())
    total = len(available())
    if applied:
        typer.echo(f"applied {len(applied)} migration(s): {', '.join(applied)} ({total} in all)")
    else:
        typer.echo(f"schema up to date ({total} migration(s))")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
