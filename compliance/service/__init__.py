"""The HTTP service of the validation hook: `create_app`, `compliance serve`."""

from compliance.service.app import Settings, create_app

__all__ = ["Settings", "create_app"]
