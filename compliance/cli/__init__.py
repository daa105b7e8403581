"""The `compliance` command line: one group, each family of commands in its own module, imported when run."""

from compliance.cli.audit import main

__all__ = ["main"]
