"""`aurora-importer`: apply mappings and the matching strategy; announce `project.imported`."""

from __future__ import annotations

from importer.app import create_app
from importer.settings import ImporterSettings
from pipeline_common.service import serve


def main() -> None:
    serve(create_app(), name="importer", port=ImporterSettings().port)


if __name__ == "__main__":
    main()
