"""aurora_sim — an emulator of Aurora Solar's API and webhooks (see the package README)."""

from aurora_sim.app import create_app
from aurora_sim.settings import Settings

__all__ = ["Settings", "create_app"]
