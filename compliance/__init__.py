"""compliance — rules-and-compliance checks for Chinese land expropriation and land reserve procedures."""

from compliance.api import audit, check_step, plan

__all__ = ["audit", "check_step", "plan"]
