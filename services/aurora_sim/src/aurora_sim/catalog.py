"""Static domain data: Aurora's enumerations and the raw material the project generator draws from."""

from typing import NamedTuple

API_VERSION = "2024.05"

# Current (2024.05) event names, reference §9.
EVENTS: frozenset[str] = frozenset(
    {
        "agreement_status_changed",
        "agreement_download_url_job_completed",
        "ahj_lookup_completed",
        "ai_roof_job_completed",
        "app_status_changed",
        "asset_created",
        "auto_designer_job_completed",
        "consumption_profile_changed",
        "design_created",
        "design_deleted",
        "design_request_completed",
        "design_request_created",
        "design_request_rejected",
        "eagleview_design_request_created",
        "eagleview_design_request_status_changed",
        "financier_contract_status_changed",
        "fire_pathway_placement_job_completed",
        "imagery_lidar_completed",
        "lead_changed",
        "lead_converted",
        "lead_created",
        "milestone_created",
        "milestone_shared",
        "order_created",
        "panel_irradiance_analysis_job_completed",
        "performance_simulation_job_completed",
        "plan_set_request_status_changed",
        "project_changed",
        "project_created",
        "project_deleted",
        "project_status_changed",
        "proposal_pdf_generation_job_completed",
        "site_survey_requested",
        "site_survey_status_changed",
        "web_proposal_url_created",
    }
)

MAX_WEBHOOKS_PER_EVENT = 5

# Object spelling (underscore); the webhook <STATUS> spells cancel_pending with a hyphen.
AGREEMENT_STATUSES: frozenset[str] = frozenset(
    {"sent", "viewed", "signed", "cancel_pending", "canceled", "declined", "error"}
)
TERMINAL_AGREEMENT_STATUSES: frozenset[str] = frozenset({"signed"})


def agreement_status_for_webhook(status: str) -> str:
    return status.replace("_", "-")


def agreement_status_from_input(status: str) -> str:
    return status.strip().lower().replace("-", "_")


PROJECT_STATUSES = (
    "Remote Assessment Completed",
    "Design Ready",
    "Engineering Design Completed",
    "Project Sold",
    "Permit Submitted",
    "Permit Received",
    "Ready for Installation",
    "Completed",
)

MILESTONES = ("sold", "installed", "sale_canceled")

ASSET_TYPES = (
    "Design DXF",
    "Design Layout",
    "CAD Screenshot",
    "CAD Auto Screenshot",
    "Site Survey Request Screenshot",
    "Racking Spec Sheet",
    "Racking Install Manual",
    "Racking Certification",
    "Racking CAD File",
    "Racking Engineering Report",
    "Racking Bill of Materials",
)

# operation name → (method, path) for `GET /_sim/operations` and restricted keys.
OPERATIONS: dict[str, tuple[str, str]] = {}


def operation(name: str, method: str, path: str) -> str:
    OPERATIONS[name] = (method, path)
    return name


class City(NamedTuple):
    city: str
    region: str
    postal_code: str
    latitude: float
    longitude: float
    yield_kwh_per_kw: int
    utility: str
    utility_rate: str


CITIES = (
    City("Mesa", "AZ", "85201", 33.4152, -111.8315, 1750, "Salt River Project", "E-23 Basic"),
    City("Phoenix", "AZ", "85016", 33.5092, -112.0280, 1760, "Arizona Public Service", "R-TOU-E"),
    City("San Diego", "CA", "92117", 32.8236, -117.2014, 1620, "San Diego Gas & Electric", "TOU-DR1"),
    City("Fresno", "CA", "93711", 36.8324, -119.8305, 1650, "Pacific Gas & Electric", "E-TOU-C"),
    City("Sacramento", "CA", "95822", 38.5093, -121.4935, 1600, "SMUD", "R-TOD"),
    City("Riverside", "CA", "92506", 33.9356, -117.3840, 1640, "Riverside Public Utilities", "Domestic"),
    City("Las Vegas", "NV", "89123", 36.0377, -115.1490, 1740, "NV Energy", "RS"),
    City("Austin", "TX", "78745", 30.2066, -97.7956, 1450, "Austin Energy", "Residential"),
    City("Magnolia", "TX", "77354", 30.2097, -95.7508, 1380, "Entergy Texas", "RS"),
    City("Tampa", "FL", "33611", 27.8917, -82.5065, 1480, "Tampa Electric", "RS"),
    City("Orlando", "FL", "32806", 28.5142, -81.3595, 1460, "Duke Energy Florida", "RS-1"),
    City("Denver", "CO", "80210", 39.6780, -104.9627, 1520, "Xcel Energy", "R"),
    City("Salt Lake City", "UT", "84106", 40.7063, -111.8550, 1480, "Rocky Mountain Power", "Schedule 1"),
    City("Raleigh", "NC", "27608", 35.8090, -78.6460, 1340, "Duke Energy Progress", "RES"),
    City("Belmar", "NJ", "07719", 40.1784, -74.0218, 1230, "Jersey Central Power & Light", "RS"),
    City("Worcester", "MA", "01602", 42.2706, -71.8431, 1180, "National Grid", "R-1"),
    City("Albany", "NY", "12203", 42.6801, -73.8390, 1150, "National Grid", "SC-1"),
    City("Stanford", "CA", "94305", 37.4241, -122.1661, 1570, "Pacific Gas & Electric", "E-TOU-C"),
)

STREET_NAMES = (
    "Mesquite Ln", "Oak St", "Maple Ave", "Sunset Blvd", "Cedar Ct", "Juniper Dr", "Willow Way",
    "Canyon View Rd", "Palo Verde Dr", "Aspen Pl", "Harbor Dr", "Magnolia Ave", "Birch Ln",
    "Ridgecrest Rd", "Meadowbrook Dr", "Lakeview Ter", "Chestnut St", "Pine Hollow Rd", "Mears Ct",
    "Casita Dr", "Mirada Ave", "10th Ave",
)  # fmt: skip

FIRST_NAMES = (
    "Maria", "James", "Linda", "Robert", "Patricia", "Michael", "Jennifer", "David", "Elizabeth",
    "William", "Susan", "José", "Aisha", "Wei", "Priya", "Diego", "Olivia", "Noah", "Fatima", "Kenji",
    "Grace", "Ethan", "Sofia", "Liam", "Hannah", "Mateo", "Chloe", "Daniel", "Amara", "Lucas",
)  # fmt: skip

LAST_NAMES = (
    "Garcia", "Smith", "Johnson", "Nguyen", "Martinez", "Brown", "Davis", "Lopez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Jackson", "Lee", "Harris", "Clark", "Patel", "Kim", "O'Brien",
    "Robinson", "Walker", "Young", "Hernández", "King", "Wright", "Scott", "Green", "Baker", "Okafor",
)  # fmt: skip

SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", "")


class Module(NamedTuple):
    manufacturer: str
    name: str
    sku: str
    watts: int


MODULES = (
    Module("REC Solar", "REC Alpha Pure-R 410", "REC410AA-PURE-R", 410),
    Module("Qcells", "Q.TRON BLK M-G2+ 425", "Q.TRON-BLK-M-G2-425", 425),
    Module("Canadian Solar", "HiKu6 CS6R-400MS", "CS6R-400MS", 400),
    Module("Silfab", "SIL-430 QD", "SIL-430-QD", 430),
    Module("JinkoSolar", "Tiger Neo JKM435N-54HL4R-B", "JKM435N-54HL4R-B", 435),
)


class Inverter(NamedTuple):
    component_type: str  # microinverters | inverters
    manufacturer: str
    name: str
    sku: str
    ac_watts: int


MICROINVERTERS = (
    Inverter("microinverters", "Enphase Energy", "IQ8PLUS-72-2-US", "IQ8PLUS-72-2-US", 290),
    Inverter("microinverters", "Enphase Energy", "IQ8M-72-2-US", "IQ8M-72-2-US", 325),
)
STRING_INVERTERS = (
    Inverter("inverters", "SolarEdge", "SE7600H-US Energy Hub", "SE7600H-USRGM", 7600),
    Inverter("inverters", "SolarEdge", "SE10000H-US", "SE10000H-US000BEU4", 10000),
    Inverter("inverters", "SMA", "Sunny Boy 6.0-US", "SB6.0-1SP-US-41", 6000),
)
OPTIMIZER = ("dc_optimizers", "SolarEdge", "S440 Power Optimizer", "S440-1GM4MRX")


class Battery(NamedTuple):
    manufacturer: str
    name: str
    sku: str
    kwh: float
    cost: float


BATTERIES = (
    Battery("Tesla", "Powerwall 3", "1707000-XX-Y", 13.5, 12500.0),
    Battery("Enphase Energy", "IQ Battery 5P", "IQBATTERY-5P-1P-NA", 5.0, 6200.0),
    Battery("Franklin WH", "aPower 2", "APR-15KWH-US", 15.0, 13200.0),
)

POSITIVE_ADDERS = (
    ("Critter guard", 450.0),
    ("Main panel upgrade", 2650.0),
    ("Trenching (per ft)", 1200.0),
    ("Steep roof (>35°)", 800.0),
    ("Tile roof", 1500.0),
    ("Monitoring hardware", 350.0),
)
DISCOUNTS = (("Summer promotion", -1000.0), ("Referral discount", -500.0), ("Veteran discount", -750.0))

LOAN_PROVIDERS = (
    ("goodleap", "GoodLeap 25yr 3.99%"),
    ("sungage", "Sungage 20yr 4.49%"),
    ("mosaic", "Mosaic 25yr 5.99%"),
)

AGREEMENT_TEMPLATES = ("Residential Solar Purchase Agreement", "Solar + Storage Installation Agreement")
SIGNING_PROVIDERS = ("docusign", "dropbox_sign")

MONTHLY_PRODUCTION_SHAPE = (0.055, 0.064, 0.084, 0.095, 0.106, 0.108, 0.107, 0.102, 0.089, 0.075, 0.061, 0.054)
MONTHLY_CONSUMPTION_SHAPE = (0.085, 0.075, 0.072, 0.070, 0.078, 0.095, 0.110, 0.108, 0.088, 0.072, 0.070, 0.077)

USER_SEEDS = (
    ("Avery", "Brooks", "Sales Manager", "role-admin"),
    ("Jordan", "Reyes", "Solar Consultant", "role-sales"),
    ("Taylor", "Chen", "Solar Consultant", "role-sales"),
    ("Morgan", "Ellis", "Design Engineer", "role-designer"),
)
