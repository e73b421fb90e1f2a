"""The company-facing settings page: server-rendered HTML on top of the same functions as the JSON API."""

from admin.pages.app import install

__all__ = ["install"]
