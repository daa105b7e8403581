"""The `compliance` command line: one group, each family of commands in its own module."""

from compliance.cli.audit import main, rules
from compliance.cli.batch import batch
from compliance.cli.hook import check_step_command, serve_command, tokens_group
from compliance.cli.plan import plan, rules_check

main.add_command(plan)
rules.add_command(rules_check)
main.add_command(batch)
main.add_command(check_step_command)
main.add_command(serve_command)
main.add_command(tokens_group)

__all__ = ["main"]
