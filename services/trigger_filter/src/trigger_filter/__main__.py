"""`aurora-trigger-filter`: decide per company whether an Aurora event starts an import."""

from __future__ import annotations

from pipeline_common.service import serve
from trigger_filter.app import create_app
from trigger_filter.settings import TriggerFilterSettings


def main() -> None:
    serve(create_app(), name="trigger_filter", port=TriggerFilterSettings().port)


if __name__ == "__main__":
    main()
