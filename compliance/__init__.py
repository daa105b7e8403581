"""compliance — rules-and-compliance checks for Chinese land expropriation and land reserve procedures."""

from compliance.api import audit

__all__ = ["audit"]
