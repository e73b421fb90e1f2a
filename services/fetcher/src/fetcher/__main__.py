"""`aurora-fetcher`: read everything an import needs from Aurora within its rate limit."""

from __future__ import annotations

from fetcher.app import create_app
from fetcher.settings import FetcherSettings
from pipeline_common.service import serve


def main() -> None:
    serve(create_app(), name="fetcher", port=FetcherSettings().port)


if __name__ == "__main__":
    main()
