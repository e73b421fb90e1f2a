"""Reads everything one import needs from Aurora's current state (the webhook is only a doorbell).

Every import path (agreement trigger, project-status trigger, re-sync, backfill) reads the same sections, so a
signed deal carries the same data whichever way it arrives:
- the agreement: the one the webhook names, else the one the trigger filter heard of for the project (the
  latest signed, else the latest; Aurora cannot list agreements, see heard_agreements.py);
- the design record (name, sizes, milestone) of the chosen design, from the designs list when that was read
  for the choice, else one Retrieve Design call;
- the financing: the id the webhook or the agreement names, else the design's financing selected in sales
  mode (one List Financings call);
- the signed PDF and signed date for a signed agreement.
Independent reads run concurrently; the per-key rate limiter in the client keeps the company under Aurora's
limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from fetcher.design_choice import DesignChoice, choose_design
from fetcher.documents import DocumentReader, Documents
from fetcher.heard_agreements import HeardAgreement, agreement_heard, agreement_to_use
from pipeline_common.aurora import (
    Agreement,
    AuroraClient,
    AuroraCredentials,
    Financing,
    NotFound,
    Pricing,
)
from pipeline_common.events import DocumentNotFetched, DocumentRef, ImportRequested


@dataclass
class Snapshot:
    data: dict[str, Any]
    design: DesignChoice
    documents: list[DocumentRef] = field(default_factory=list)
    # When the signed webhook of the snapshot's agreement first arrived (Aurora's agreement has no signed_at).
    agreement_signed_at: datetime | None = None
    documents_not_fetched: list[DocumentNotFetched] = field(default_factory=list)


async def _all_or_none(*calls: Awaitable[Any]) -> list[Any]:
    """Like gather, but a failure cancels the other reads instead of leaving them running unobserved."""
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json") if model is not None else None


class SnapshotReader:
    def __init__(self, aurora: AuroraClient, pool: asyncpg.Pool[Any], max_document_bytes: int) -> None:
        self.aurora = aurora
        self.pool = pool
        self.max_document_bytes = max_document_bytes
        self.documents = DocumentReader(aurora, pool, max_document_bytes)

    async def read(self, request: ImportRequested, creds: AuroraCredentials) -> Snapshot:
        heard = await self._heard(request)
        agreement: Agreement | None = None
        if request.agreement_id:
            project, agreement = await asyncio.gather(
                self.aurora.retrieve_project(creds, request.aurora_project_id),
                self.aurora.retrieve_agreement(creds, request.agreement_id),
            )
        elif heard is not None:
            # An agreement we only heard of may be gone from Aurora since: the import goes on without it.
            project, agreement = await asyncio.gather(
                self.aurora.retrieve_project(creds, request.aurora_project_id),
                self._optional(self.aurora.retrieve_agreement(creds, heard.agreement_id)),
            )
        else:
            project = await self.aurora.retrieve_project(creds, request.aurora_project_id)

        async def sales_rep() -> Any:
            if not project.owner_id:
                return None
            return _dump(await self._optional(self.aurora.retrieve_user(creds, project.owner_id)))

        async def signed_document() -> Documents:
            if agreement is None or not agreement.is_signed:
                return Documents()
            return await self.documents.signed_agreement(creds, agreement)

        # The sales rep and the signed document (a polled Aurora job, the slowest read) do not depend on the
        # design: they run alongside the design reads instead of after them.
        (choice, data, documents), rep, signed = await _all_or_none(
            self._design_part(request, creds, agreement), sales_rep(), signed_document()
        )
        data = {"project": _dump(project), "agreement": _dump(agreement), **data, "sales_rep": rep}
        documents.extend(signed)
        signed_at = heard.signed_at if heard is not None and agreement is not None and agreement.is_signed else None
        return Snapshot(
            data=data,
            design=choice,
            documents=documents.stored,
            documents_not_fetched=documents.not_fetched,
            agreement_signed_at=signed_at,
        )

    async def _heard(self, request: ImportRequested) -> HeardAgreement | None:
        if request.agreement_id:
            return await agreement_heard(self.pool, request.integration_id, request.agreement_id)
        return await agreement_to_use(self.pool, request.integration_id, request.aurora_project_id)

    async def _design_part(
        self, request: ImportRequested, creds: AuroraCredentials, agreement: Agreement | None
    ) -> tuple[DesignChoice, dict[str, Any], Documents]:
        pricing_cache: dict[str, Pricing] = {}

        async def pricing_of(design_id: str) -> Pricing:
            if design_id not in pricing_cache:
                pricing_cache[design_id] = await self.aurora.retrieve_pricing(creds, design_id)
            return pricing_cache[design_id]

        async def price_of(design_id: str) -> float:
            return (await pricing_of(design_id)).system_price or 0.0

        # The agreement's design: the one the webhook named, or a signed agreement's (the deal that was sold).
        uses_agreement_design = agreement is not None and (request.agreement_id is not None or agreement.is_signed)
        agreement_design = (agreement.design_id if agreement and uses_agreement_design else None) or request.design_id
        designs = [] if agreement_design else await self.aurora.list_designs(creds, request.aurora_project_id)
        choice = await choose_design(designs, agreement_design_id=agreement_design, price_of=price_of)

        data: dict[str, Any] = {}
        documents = Documents()
        design_id = choice.design_id
        financing_id = request.financing_id or (agreement.financing_id if agreement else None)
        if design_id:
            listed = next((d for d in designs if d.id == design_id), None)
            reads: list[Any] = [
                self.aurora.retrieve_design_summary(creds, design_id),
                pricing_of(design_id),
                self._optional(self.aurora.retrieve_default_proposal(creds, design_id)),
                self._optional(self.aurora.retrieve_web_proposal(creds, design_id)),
                self.aurora.list_design_assets(creds, design_id),
                self._financing(creds, design_id, financing_id),
                self._none() if listed is not None else self._optional(self.aurora.retrieve_design(creds, design_id)),
            ]
            # The proposal PDF job runs alongside; it never fails the import (fetcher.documents).
            (summary, pricing, proposal, web_proposal, assets, financing, retrieved), pdf = await _all_or_none(
                _all_or_none(*reads), self.documents.proposal_pdf(creds, design_id)
            )
            design_record = listed or retrieved
            # Without the record (gone from Aurora since) its keys stay absent, not null: absent means "not
            # read", so a replace import does not blank what the CRM has for them.
            data["design"] = {**(_dump(design_record) or {"id": design_id}), "summary": _dump(summary)}
            data["pricing"] = _dump(pricing)
            data["proposal"] = _dump(proposal)
            data["web_proposal"] = _dump(web_proposal)
            data["financing"] = _dump(financing)
            documents.extend(await self.documents.design_assets(creds, design_id, assets))
            documents.extend(pdf)
        else:
            data.update(design=None, pricing=None, proposal=None, web_proposal=None, financing=None)
        return choice, data, documents

    async def _financing(self, creds: AuroraCredentials, design_id: str, financing_id: str | None) -> Financing | None:
        if financing_id:
            result: Financing | None = await self._optional(
                self.aurora.retrieve_financing(creds, design_id, financing_id)
            )
            return result
        # No financing named: the one the salesperson selected in Aurora's sales mode, if any.
        financings: list[Financing] = await self._optional(self.aurora.list_financings(creds, design_id)) or []
        return next((f for f in financings if f.selected_in_sales_mode), None)

    @staticmethod
    async def _none() -> None:
        return None

    @staticmethod
    async def _optional(call: Any) -> Any:
        # A proposal, web proposal, financing or user that Aurora no longer has does not stop the import.
        try:
            return await call
        except NotFound:
            return None
