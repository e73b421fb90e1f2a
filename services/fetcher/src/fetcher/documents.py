"""The documents of one import: design assets, the signed agreement and the proposal PDF, each stored in the
document store by the fetcher, or named with why it is missing.

A document that cannot be downloaded never fails the import. Pre-signed URLs expire (15 minutes) or are
refused by storage, so a failed download is tried once more with a fresh URL (the asset listing read again,
the job run again); if that fails too, the project is imported without it, the integration log says which
document and why, and the next import of the project (a re-sync) attaches it. Only Aurora's API answering
401 means the company's token was rejected: that one still stops the fetch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from pipeline_common.aurora import (
    Agreement,
    Asset,
    AuroraClient,
    AuroraCredentials,
    AuroraError,
    DownloadedFile,
    DownloadRefused,
    FileJobFailed,
    InvalidCredentials,
    ResponseTooLarge,
)
from pipeline_common.documents import store_blob
from pipeline_common.events import DocumentNotFetched, DocumentRef
from pipeline_common.logs import get_logger

log = get_logger(__name__)

# Aurora asset types → the CRM's document kinds.
ASSET_KINDS = {
    "design layout": "design_layout",
    "design dxf": "design_dxf",
    "cad screenshot": "cad_screenshot",
    "cad auto screenshot": "cad_screenshot",
}
SIGNED_AGREEMENT = "signed_agreement"
PROPOSAL_PDF = "proposal_pdf"

# A fresh URL cannot change where a file lives or how large it is.
_NOT_WORTH_A_FRESH_URL = (DownloadRefused, ResponseTooLarge)


@dataclass
class Documents:
    stored: list[DocumentRef] = field(default_factory=list)
    not_fetched: list[DocumentNotFetched] = field(default_factory=list)

    def extend(self, other: Documents) -> None:
        self.stored.extend(other.stored)
        self.not_fetched.extend(other.not_fetched)


def _why(exc: AuroraError) -> str:
    where = f" on {exc.endpoint}" if exc.endpoint else ""
    status = f"{exc.status}" if exc.status is not None else "no response"
    return f"Aurora {status}{where}: {exc.message}"[:500]


class DocumentReader:
    def __init__(self, aurora: AuroraClient, pool: asyncpg.Pool[Any], max_document_bytes: int) -> None:
        self.aurora = aurora
        self.pool = pool
        self.max_document_bytes = max_document_bytes

    async def design_assets(self, creds: AuroraCredentials, design_id: str, assets: list[Asset]) -> Documents:
        out = Documents()
        failed: list[tuple[Asset, AuroraError]] = []
        for asset in assets:
            if not asset.url:
                continue
            try:
                out.stored.append(await self._store_asset(asset, await self._download(asset.url)))
            except AuroraError as exc:
                failed.append((asset, exc))
        if not failed:
            return out

        retry = [(a, e) for a, e in failed if not isinstance(e, _NOT_WORTH_A_FRESH_URL)]
        fresh: dict[str, Asset] = {}
        if retry:
            try:
                fresh = {a.id: a for a in await self.aurora.list_design_assets(creds, design_id)}
            except InvalidCredentials:
                raise
            except AuroraError as exc:
                log.warning("asset_listing_reread_failed", design_id=design_id, error=str(exc)[:300])
        for asset, first in failed:
            error = first
            again = fresh.get(asset.id)
            if again is not None and again.url and not isinstance(first, _NOT_WORTH_A_FRESH_URL):
                try:
                    out.stored.append(await self._store_asset(again, await self._download(again.url)))
                    continue
                except AuroraError as exc:
                    error = exc
            out.not_fetched.append(
                DocumentNotFetched(
                    kind=_asset_kind(asset),
                    file_name=asset.file_name,
                    aurora_asset_id=asset.id,
                    reason=_why(error) + (" (also with a fresh URL)" if error is not first else ""),
                )
            )
        return out

    async def signed_agreement(self, creds: AuroraCredentials, agreement: Agreement) -> Documents:
        """The job's API failing transiently retries the whole fetch (the document of record is worth the
        wait); the job reporting failure, or its file not downloading even with a fresh URL, does not."""
        name = f"agreement-{agreement.id}.pdf"
        try:
            file = await self._from_job(lambda: self.aurora.signed_agreement_file_url(creds, agreement.id))
        except AuroraError as exc:
            if isinstance(exc, InvalidCredentials) or (exc.retryable and exc.endpoint != "download"):
                raise
            return _missing(SIGNED_AGREEMENT, name, agreement.id, exc)
        return await self._stored(file, SIGNED_AGREEMENT, name, agreement.id, "application/pdf")

    async def proposal_pdf(self, creds: AuroraCredentials, design_id: str) -> Documents:
        """Never holds the import up: a failed, slow or unavailable PDF job leaves the proposal to its web link."""
        name = f"proposal-{design_id}.pdf"
        try:
            file = await self._from_job(lambda: self.aurora.proposal_pdf_file_url(creds, design_id))
        except InvalidCredentials:
            raise
        except AuroraError as exc:
            return _missing(PROPOSAL_PDF, name, design_id, exc)
        return await self._stored(file, PROPOSAL_PDF, name, design_id, "application/pdf")

    async def _from_job(self, file_url: Callable[[], Awaitable[str]]) -> DownloadedFile:
        """Runs the job and downloads its file; a refused or failing download runs the job again once."""
        try:
            return await self._download(await file_url())
        except FileJobFailed:
            raise
        except AuroraError as exc:
            if isinstance(exc, _NOT_WORTH_A_FRESH_URL) or exc.endpoint != "download":
                raise
        return await self._download(await file_url())

    async def _download(self, url: str) -> DownloadedFile:
        return await self.aurora.download(url, max_bytes=self.max_document_bytes)

    async def _store_asset(self, asset: Asset, file: DownloadedFile) -> DocumentRef:
        default_type = asset.content_type or "application/octet-stream"
        return await self._store(file, _asset_kind(asset), asset.file_name or asset.id, asset.id, default_type)

    async def _stored(
        self, file: DownloadedFile, kind: str, file_name: str, source_id: str, default_type: str
    ) -> Documents:
        return Documents(stored=[await self._store(file, kind, file_name, source_id, default_type)])

    async def _store(
        self, file: DownloadedFile, kind: str, file_name: str, source_id: str, default_type: str
    ) -> DocumentRef:
        """Puts the bytes in the document store and names them; the response's content type wins."""
        content_type = file.content_type or default_type
        digest = await store_blob(self.pool, file.content, content_type)
        return DocumentRef(
            kind=kind,
            sha256=digest,
            file_name=file_name,
            content_type=content_type,
            size=file.size,
            aurora_asset_id=source_id,
        )


def _asset_kind(asset: Asset) -> str:
    return ASSET_KINDS.get((asset.asset_type or "").casefold(), "design_file")


def _missing(kind: str, file_name: str, source_id: str, exc: AuroraError) -> Documents:
    return Documents(
        not_fetched=[DocumentNotFetched(kind=kind, file_name=file_name, aurora_asset_id=source_id, reason=_why(exc))]
    )
