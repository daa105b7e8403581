"""compliance — rules-and-compliance checks for Chinese land expropriation and land reserve procedures."""

from compliance.api import audit
from compliance.api_hook import check_step, plan  # `plan` the function shadows the submodule attribute

__all__ = ["audit", "check_step", "plan"]
