"""Builds realistic tenants and residential projects (designs, BOM, pricing, financing, agreement, assets)."""

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aurora_sim import catalog
from aurora_sim.catalog import City
from aurora_sim.model import (
    Agreement,
    ApiKey,
    Asset,
    Design,
    Financing,
    Project,
    StoredFile,
    Tenant,
    User,
)
from aurora_sim.store import Store

Event = tuple[str, dict[str, str | None]]


def create_tenant(store: Store, name: str, env_segment: str, rate_limit: int | None) -> tuple[Tenant, ApiKey]:
    now = store.clock.now()
    tenant = Tenant(id=store.new_id(), name=name, created_at=now, rate_limit_per_minute=rate_limit)
    store.tenants[tenant.id] = tenant
    team_id, partner_id = store.new_id(), store.new_id()
    domain = "".join(ch for ch in name.lower() if ch.isalnum())[:20] or "tenant"
    for first, last, title, role in catalog.USER_SEEDS:
        store.add_user(
            User(
                id=store.new_id(),
                tenant_id=tenant.id,
                first_name=first,
                last_name=last,
                email=f"{first.lower()}.{last.lower()}@{domain}.example.com",
                phone=f"+1 555 01{store.rng.randrange(10, 99)} {store.rng.randrange(1000, 9999)}",
                title=title,
                role_id=role,
                team_ids=[team_id],
                partner_ids=[partner_id] if role == "role-sales" else [],
            )
        )
    key = create_key(store, tenant.id, "standard", frozenset(), env_segment)
    return tenant, key


def create_key(store: Store, tenant_id: str, kind: str, operations: frozenset[str], env_segment: str) -> ApiKey:
    key = ApiKey(
        token=store.new_token(kind, env_segment),
        tenant_id=tenant_id,
        kind=kind,
        operations=operations,
        created_at=store.clock.now(),
    )
    store.keys[key.token] = key
    return key


def _phone(rng: random.Random) -> str:
    return f"({rng.randrange(201, 989)}) 555-{rng.randrange(100, 9999):04d}"


def location_for(city: City, street: str) -> dict[str, Any]:
    return {
        "property_address": f"{street}, {city.city}, {city.region} {city.postal_code}, USA",
        "latitude": city.latitude,
        "longitude": city.longitude,
        "property_address_components": {
            "street_address": street,
            "city": city.city,
            "region": city.region,
            "postal_code": city.postal_code,
            "country": "United States",
        },
    }


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.strip().lower().encode()).digest()


def _offset(digest: bytes, at: int, spread: float) -> float:
    """A value in [-spread, spread] read from two bytes of the digest: same input, same point."""
    return (int.from_bytes(digest[at : at + 2], "big") / 65535 * 2 - 1) * spread


def geocode(location: dict[str, Any]) -> dict[str, Any]:
    """Fills whichever half of address / coordinates the caller left out, like Aurora's create (§6.1).

    Deterministic: an address always lands on the same point (near its city when the catalog knows the city,
    else near a catalog city picked by the address' hash), so tests and retries see stable coordinates.
    """
    address = location.get("property_address")
    lat, lon = location.get("latitude"), location.get("longitude")
    if isinstance(address, str) and address.strip():
        digest = _digest(address)
        parts = [p.strip() for p in address.split(",")]
        known = next((c for c in catalog.CITIES if len(parts) > 1 and c.city.lower() == parts[1].lower()), None)
        city = known or catalog.CITIES[digest[0] % len(catalog.CITIES)]
        components = {
            "street_address": parts[0],
            "city": parts[1] if len(parts) > 1 else city.city,
            "region": parts[2].split()[0] if len(parts) > 2 and parts[2] else city.region,
            "postal_code": parts[2].split()[-1] if len(parts) > 2 and len(parts[2].split()) > 1 else city.postal_code,
            "country": "United States",
        }
        if lat is None or lon is None:
            lat = round(city.latitude + _offset(digest, 1, 0.03), 6)
            lon = round(city.longitude + _offset(digest, 3, 0.03), 6)
        return {
            "property_address": address,
            "latitude": lat,
            "longitude": lon,
            "property_address_components": components,
        }
    lat_f, lon_f = float(lat or 0.0), float(lon or 0.0)
    city = min(catalog.CITIES, key=lambda c: (c.latitude - lat_f) ** 2 + (c.longitude - lon_f) ** 2)
    digest = _digest(f"{lat_f:.6f},{lon_f:.6f}")
    number = 100 + int.from_bytes(digest[:2], "big") % 9900
    street = f"{number} {catalog.STREET_NAMES[digest[2] % len(catalog.STREET_NAMES)]}"
    # Coordinates only: Aurora reverse-geocodes and resets lat/long to the found address' point (§6.1).
    return location_for(city, street)


def city_of(location: dict[str, Any]) -> City:
    comps = location.get("property_address_components") or {}
    name = str(comps.get("city", "")).lower()
    for city in catalog.CITIES:
        if city.city.lower() == name:
            return city
    return catalog.CITIES[0]


@dataclass
class ProjectPlan:
    overrides: dict[str, Any] = field(default_factory=dict)
    designs: int = 1
    sold_design: int | None = None
    with_financing: bool = True
    with_consumption_profile: bool = True
    with_battery: bool | None = None
    agreement_status: str | None = "sent"
    installed: bool = False
    created_at: datetime | None = None
    design_overrides: dict[str, Any] = field(default_factory=dict)
    signing_provider: str | None = None


# Design fields the control API may set (the rest follow from the generated system).
DESIGN_FIELDS = ("name", "external_provider_id")


@dataclass
class Created:
    project: Project
    designs: list[Design]
    agreement: Agreement | None
    financing_id: str | None
    events: list[Event]


def base_project_data(store: Store, tenant_id: str, rng: random.Random) -> dict[str, Any]:
    first, last = rng.choice(catalog.FIRST_NAMES), rng.choice(catalog.LAST_NAMES)
    city = rng.choice(catalog.CITIES)
    street = f"{rng.randrange(100, 9999)} {rng.choice(catalog.STREET_NAMES)}"
    users = store.tenant_users.get(tenant_id, [])
    sales = [u for u in users if store.users[u].role_id == "role-sales"] or users
    owner = store.users[rng.choice(sales)] if sales else None
    location = location_for(city, street)
    email_local = "".join(ch for ch in f"{first}.{last}".lower() if ch.isascii() and (ch.isalnum() or ch == "."))
    return {
        "name": f"{first} {last} - {street}",
        "external_provider_id": None,
        "status": catalog.PROJECT_STATUSES[0],
        "tags": [],
        "project_type": "residential",
        "customer_salutation": rng.choice(catalog.SALUTATIONS),
        "customer_first_name": first,
        "customer_last_name": last,
        "customer_email": f"{email_local}{rng.randrange(1, 99)}@example.com",
        "customer_phone": _phone(rng),
        "mailing_address": location["property_address"],
        "owner_id": owner.id if owner else None,
        "team_id": owner.team_ids[0] if owner and owner.team_ids else None,
        "partner_id": owner.partner_ids[0] if owner and owner.partner_ids else None,
        "created_from_lead_id": None,
        "order_id": None,
        "ahj_id": f"{rng.randrange(10000, 99999)}",
        "preferred_solar_modules": [],
        "location": location,
    }


def _file(store: Store, kind: str, file_name: str, content_type: str, context: dict[str, Any]) -> StoredFile:
    stored = StoredFile(id=store.new_id(), kind=kind, file_name=file_name, content_type=content_type, context=context)
    store.files[stored.id] = stored
    return stored


def _design(
    store: Store, rng: random.Random, project: Project, index: int, with_battery: bool, created_at: datetime
) -> Design:
    city = city_of(project.data.get("location") or {})
    module = rng.choice(catalog.MODULES)
    count = rng.randrange(14, 38)
    stc = count * module.watts
    ptc = round(stc * rng.uniform(0.89, 0.93), 1)
    micro = rng.random() < 0.6
    bom: list[dict[str, Any]] = [
        {
            "id": store.new_id(),
            "component_type": "modules",
            "sku": module.sku,
            "name": module.name,
            "manufacturer_name": module.manufacturer,
            "quantity": count,
        },
    ]
    string_inverters: list[dict[str, Any]] = []
    if micro:
        inv = rng.choice(catalog.MICROINVERTERS)
        ac = count * inv.ac_watts
        bom.append(
            {
                "id": store.new_id(),
                "component_type": inv.component_type,
                "sku": inv.sku,
                "name": inv.name,
                "manufacturer_name": inv.manufacturer,
                "quantity": count,
            }
        )
    else:
        inv = min(
            (i for i in catalog.STRING_INVERTERS if i.ac_watts >= stc * 0.8),
            key=lambda i: i.ac_watts,
            default=catalog.STRING_INVERTERS[1],
        )
        ac = inv.ac_watts
        bom.append(
            {
                "id": store.new_id(),
                "component_type": inv.component_type,
                "sku": inv.sku,
                "name": inv.name,
                "manufacturer_name": inv.manufacturer,
                "quantity": 1,
            }
        )
        opt_type, opt_mfr, opt_name, opt_sku = catalog.OPTIMIZER
        bom.append(
            {
                "id": store.new_id(),
                "component_type": opt_type,
                "sku": opt_sku,
                "name": opt_name,
                "manufacturer_name": opt_mfr,
                "quantity": count,
            }
        )
        string_inverters.append({"name": inv.name, "manufacturer_name": inv.manufacturer, "quantity": 1})
    batteries: list[dict[str, Any]] = []
    storage_breakdown: list[dict[str, Any]] = []
    if with_battery:
        battery = rng.choice(catalog.BATTERIES)
        bom.append(
            {
                "id": store.new_id(),
                "component_type": "batteries",
                "sku": battery.sku,
                "name": battery.name,
                "manufacturer_name": battery.manufacturer,
                "quantity": 1,
            }
        )
        batteries.append(
            {
                "name": battery.name,
                "manufacturer_name": battery.manufacturer,
                "quantity": 1,
                "capacity_kwh": battery.kwh,
            }
        )
        storage_breakdown.append(
            {"component": "base_cost", "cost": battery.cost, "items": [{"name": battery.name, "cost": battery.cost}]}
        )
    # Arrays: split the modules over one to three roof faces.
    faces = rng.randrange(1, 4) if count >= 18 else 1
    arrays = []
    left = count
    for face in range(faces):
        n = left if face == faces - 1 else max(4, left // (faces - face) + rng.randrange(-2, 3))
        left -= n
        access = rng.randrange(82, 99)
        arrays.append(
            {
                "size": n * module.watts,
                "azimuth": rng.choice((90, 135, 180, 200, 225, 270)),
                "pitch": rng.choice((14.0, 18.4, 22.6, 26.6, 30.3)),
                "orientation": "portrait",
                "configuration": "flush",
                "module": {"name": module.name, "count": n, "rating_stc": module.watts, "orientation": "portrait"},
                "face": face + 1,
                "ground_mounted": False,
                "shading": {
                    "solar_access": {
                        "annual": access,
                        "monthly": [min(100, access + rng.randrange(-4, 5)) for _ in range(12)],
                    }
                },
            }
        )
    annual = round(stc / 1000 * city.yield_kwh_per_kw * rng.uniform(0.88, 0.98))
    monthly = [round(annual * share) for share in catalog.MONTHLY_PRODUCTION_SHAPE]
    consumption = annual / rng.uniform(0.75, 1.1)
    energy = {
        "up_to_date": True,
        "annual": annual,
        "annual_offset": f"{round(100 * annual / consumption)}%",
        "monthly": monthly,
        "hourly": None,
        "loss_summary": [],
    }
    ppw = round(rng.uniform(2.65, 3.45), 2)
    base = round(stc * ppw, 2)
    adders = rng.sample(catalog.POSITIVE_ADDERS, rng.randrange(1, 3))
    discount = rng.choice(catalog.DISCOUNTS)
    breakdown: list[dict[str, Any]] = [
        {"component": "starting_cost", "cost": 0.0, "items": []},
        {"component": "base_cost", "cost": base, "items": [{"name": "Price per watt", "cost": base}]},
        {
            "component": "adders_without_discounts",
            "cost": sum(c for _, c in adders),
            "items": [{"name": n, "cost": c} for n, c in adders],
        },
        {"component": "adders", "cost": discount[1], "items": [{"name": discount[0], "cost": discount[1]}]},
        {"component": "incentives", "cost": 0.0, "items": []},
    ]
    system_price = round(sum(float(c["cost"]) for c in breakdown), 2)
    storage = sum(float(c["cost"]) for c in storage_breakdown)
    pricing = {
        "system_price": round(system_price + storage, 2),
        "price_per_watt": round((system_price + storage) / stc, 2),
        "system_cost": round(system_price + storage, 2),
        "system_cost_breakdown": breakdown,
        "storage_system_cost_breakdown": storage_breakdown,
    }
    design = Design(
        id=store.new_id(),
        tenant_id=project.tenant_id,
        project_id=project.id,
        name=f"Design {index + 1}" + (" (storage)" if with_battery else ""),
        external_provider_id=None,
        created_at=created_at,
        system_size_stc=float(stc),
        system_size_ptc=ptc,
        system_size_ac=float(ac),
        bill_of_materials=bom,
        arrays=arrays,
        string_inverters=string_inverters,
        storage_inverters=[],
        batteries=batteries,
        energy_production=energy,
        pricing=pricing,
        proposal_id=store.new_id(),
        proposal_template_id=store.new_id(),
        web_proposal_token=f"{rng.getrandbits(64):016x}",
    )
    store.designs[design.id] = design
    store.web_proposals[design.web_proposal_token] = design.id
    project.design_ids.append(design.id)
    context = {
        "modules": count,
        "project_name": project.data.get("name"),
        "system_size_stc": stc,
        "address": (project.data.get("location") or {}).get("property_address"),
        "title": "Design Layout",
    }
    for asset_type, kind, ext, ctype in (
        ("Design Layout", "layout_pdf", "pdf", "application/pdf"),
        ("CAD Screenshot", "screenshot_png", "png", "image/png"),
        ("Design DXF", "dxf", "dxf", "application/dxf"),
    ):
        stored = _file(store, kind, f"{asset_type.lower().replace(' ', '_')}_{design.id[:8]}.{ext}", ctype, context)
        asset = Asset(
            id=store.new_id(),
            tenant_id=project.tenant_id,
            project_id=project.id,
            design_id=design.id,
            asset_type=asset_type,
            file_name=stored.file_name,
            content_type=ctype,
            created_at=created_at,
            file_id=stored.id,
        )
        store.assets[asset.id] = asset
        design.asset_ids.append(asset.id)
        project.asset_ids.append(asset.id)
    return design


def _financings(store: Store, rng: random.Random, design: Design, loan_selected: bool) -> Financing | None:
    price = float((design.pricing or {}).get("system_price", 0))
    cash = Financing(
        id=store.new_id(),
        tenant_id=design.tenant_id,
        project_id=design.project_id,
        design_id=design.id,
        name="Cash",
        financing_option="cash",
        selected_in_sales_mode=not loan_selected,
        system_price=price,
        monthly_payment=None,
        loan_principal=None,
        down_payment=price,
        financier=None,
    )
    provider, name = rng.choice(catalog.LOAN_PROVIDERS)
    down = round(rng.choice((0.0, 0.0, 1000.0, 2500.0)), 2)
    principal = round(price - down, 2)
    years = 20 if "20yr" in name else 25
    rate = float(name.split()[-1].rstrip("%")) / 100 / 12
    payment = round(principal * rate / (1 - (1 + rate) ** (-12 * years)), 2)
    loan = Financing(
        id=store.new_id(),
        tenant_id=design.tenant_id,
        project_id=design.project_id,
        design_id=design.id,
        name=name,
        financing_option="loans",
        selected_in_sales_mode=loan_selected,
        system_price=price,
        monthly_payment=payment,
        loan_principal=principal,
        down_payment=down,
        financier={"type": "integrated", "provider": provider, "status": "pre_approved" if loan_selected else "quoted"},
    )
    for f in (cash, loan):
        store.financings[f.id] = f
        design.financing_ids.append(f.id)
    return loan if loan_selected else None


def create_project(store: Store, tenant_id: str, plan: ProjectPlan, rng: random.Random) -> Created:
    now = store.clock.now()
    # Back-dated so designs, agreement and milestone (which follow the project by minutes/hours) are not in the future.
    created_at = plan.created_at or now - timedelta(hours=3)
    data = base_project_data(store, tenant_id, rng)
    overrides = dict(plan.overrides)
    if isinstance(overrides.get("location"), dict):
        data["location"] = geocode({**overrides.pop("location")})
        data["mailing_address"] = data["location"]["property_address"]
    data.update(overrides)
    project = Project(id=store.new_id(), tenant_id=tenant_id, seq=store.next_seq(), created_at=created_at, data=data)
    store.add_project(project)
    events: list[Event] = [("project_created", {"PROJECT_ID": project.id, "SOURCE": "app"})]
    city = city_of(data.get("location") or {})
    if plan.with_consumption_profile:
        yearly = rng.randrange(7000, 16000)
        project.consumption_profile = {
            "utility": city.utility,
            "utility_rate": city.utility_rate,
            "monthly_energy": [round(yearly * s) for s in catalog.MONTHLY_CONSUMPTION_SHAPE],
        }
    designs = []
    for i in range(max(0, plan.designs)):
        with_battery = plan.with_battery if plan.with_battery is not None else rng.random() < 0.3
        design = _design(store, rng, project, i, with_battery, created_at + timedelta(minutes=5 * (i + 1)))
        for name in DESIGN_FIELDS:
            if name in plan.design_overrides:
                setattr(design, name, plan.design_overrides[name])
        designs.append(design)
        events.extend(design_events(store, design))
    sold_index = plan.sold_design
    if sold_index is None and plan.agreement_status == "signed" and designs:
        sold_index = 0
    financing_id: str | None = None
    agreement: Agreement | None = None
    if designs:
        contract_design = designs[sold_index if sold_index is not None and sold_index < len(designs) else 0]
        for design in designs:
            selected = _financings(store, rng, design, plan.with_financing and design is contract_design)
            if selected is not None:
                financing_id = selected.id
        if plan.agreement_status is not None:
            agreement = _agreement(
                store,
                rng,
                project,
                contract_design,
                financing_id,
                plan.agreement_status,
                created_at,
                plan.signing_provider,
            )
            events.append(("agreement_status_changed", agreement_values(agreement)))
        if sold_index is not None and sold_index < len(designs):
            marked = designs[sold_index]
            marked.milestone = ("installed" if plan.installed else "sold", created_at + timedelta(hours=2, minutes=30))
            events.append(
                (
                    "milestone_created",
                    {"PROJECT_ID": project.id, "DESIGN_ID": marked.id, "MILESTONE": marked.milestone[0]},
                )
            )
    return Created(project=project, designs=designs, agreement=agreement, financing_id=financing_id, events=events)


def design_events(store: Store, design: Design) -> list[Event]:
    """What Aurora fires once a designer has finished a design: created, simulated, its assets."""
    events: list[Event] = [
        ("design_created", {"PROJECT_ID": design.project_id, "DESIGN_ID": design.id, "SOURCE": "app"}),
        (
            "performance_simulation_job_completed",
            {"DESIGN_ID": design.id, "JOB_ID": store.new_id(), "STATUS": "succeeded"},
        ),
    ]
    for asset_id in design.asset_ids:
        asset = store.assets[asset_id]
        events.append(("asset_created", {"DESIGN_ID": design.id, "ASSET_ID": asset.id, "ASSET_TYPE": asset.asset_type}))
    return events


def agreement_values(agreement: Agreement) -> dict[str, str | None]:
    return {
        "PROJECT_ID": agreement.project_id,
        "AGREEMENT_ID": agreement.id,
        "STATUS": catalog.agreement_status_for_webhook(agreement.status),
        "DESIGN_ID": agreement.design_id,
        "FINANCING_ID": agreement.financing_id,
    }


def _agreement(
    store: Store,
    rng: random.Random,
    project: Project,
    design: Design,
    financing_id: str | None,
    status: str,
    created_at: datetime,
    signing_provider: str | None = None,
    sent_after: timedelta = timedelta(hours=1),
    status_after: timedelta = timedelta(hours=2),
) -> Agreement:
    # Drawn even when given, so the rest of a seeded project is the same either way.
    provider = rng.choice(catalog.SIGNING_PROVIDERS)
    provider = signing_provider or provider
    docusign = provider == "docusign"
    agreement = Agreement(
        id=store.new_id(),
        tenant_id=project.tenant_id,
        project_id=project.id,
        design_id=design.id,
        financing_id=financing_id,
        agreement_template_name=rng.choice(catalog.AGREEMENT_TEMPLATES),
        status="sent",
        signing_provider=provider,
        created_at=created_at + sent_after,
        # Docusign agreements report neither sent_at nor last_viewed_at (reference §6.6).
        sent_at=None if docusign else created_at + sent_after,
        last_viewed_at=None,
    )
    store.agreements[agreement.id] = agreement
    apply_agreement_status(agreement, status, created_at + status_after)
    return agreement


def apply_agreement_status(agreement: Agreement, status: str, at: datetime) -> None:
    agreement.status = status
    if status == "viewed" and agreement.signing_provider != "docusign":
        agreement.last_viewed_at = at
    if status == "signed" and agreement.signing_provider != "docusign" and agreement.last_viewed_at is None:
        agreement.last_viewed_at = at
    agreement.error_message = (
        "signature_request_email_bounce: the signer's email bounced" if status == "error" else None
    )


BULK_AGREEMENT_MIX = (
    (None, 0.15),
    ("sent", 0.22),
    ("viewed", 0.18),
    ("signed", 0.28),
    ("declined", 0.05),
    ("canceled", 0.05),
    ("cancel_pending", 0.02),
    ("error", 0.05),
)


def bulk_plan(rng: random.Random, now: datetime, index: int, count: int) -> ProjectPlan:
    roll, acc, status = rng.random(), 0.0, None
    for candidate, weight in BULK_AGREEMENT_MIX:
        acc += weight
        if roll < acc:
            status = candidate
            break
    designs = rng.choice((1, 1, 1, 2, 2, 3))
    signed = status == "signed"
    project_status = rng.choice(catalog.PROJECT_STATUSES[3:]) if signed else rng.choice(catalog.PROJECT_STATUSES[:3])
    # Spread creation over the last 90 days, oldest first, so created_at ordering is meaningful.
    created_at = (
        now - timedelta(days=90, hours=3) + timedelta(seconds=(90 * 86400) * (index + rng.random()) / max(count, 1))
    )
    return ProjectPlan(
        overrides={"status": project_status},
        designs=designs,
        sold_design=rng.randrange(designs) if signed else None,
        with_financing=rng.random() < 0.65,
        with_consumption_profile=rng.random() < 0.8,
        agreement_status=status,
        installed=signed and project_status == "Completed",
        created_at=created_at,
    )


# --- a designer working on an existing project (e.g. one a CRM created through the API) ---------------


@dataclass
class AddedDesigns:
    designs: list[Design]
    financing_id: str | None
    events: list[Event]


def add_designs(
    store: Store,
    rng: random.Random,
    project: Project,
    count: int,
    with_battery: bool | None,
    with_financing: bool,
) -> AddedDesigns:
    """Designs finished now in Aurora's app; the first new one gets the selected loan when `with_financing`."""
    now = store.clock.now()
    added: list[Design] = []
    events: list[Event] = []
    financing_id: str | None = None
    for offset in range(count):
        battery = with_battery if with_battery is not None else rng.random() < 0.3
        design = _design(store, rng, project, len(project.design_ids), battery, now)
        selected = _financings(store, rng, design, with_financing and offset == 0)
        if selected is not None:
            financing_id = selected.id
        added.append(design)
        events.extend(design_events(store, design))
    return AddedDesigns(designs=added, financing_id=financing_id, events=events)


def selected_financing_id(store: Store, design: Design) -> str | None:
    return next((f for f in design.financing_ids if store.financings[f].selected_in_sales_mode), None)


def add_agreement(store: Store, rng: random.Random, project: Project, design: Design, status: str) -> Agreement:
    """An agreement sent now for `design` (then moved to `status`), as a rep does from the app."""
    financing_id = selected_financing_id(store, design)
    financing = store.financings[financing_id] if financing_id else None
    # Cash is selected_in_sales_mode when no loan is: only a loan is the agreement's financing, as on create.
    loan_id = financing.id if financing is not None and financing.financing_option != "cash" else None
    now = store.clock.now()
    return _agreement(
        store, rng, project, design, loan_id, status, now, sent_after=timedelta(0), status_after=timedelta(0)
    )
