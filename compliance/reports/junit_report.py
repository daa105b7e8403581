"""JUnit XML for CI pipelines: a case is a testcase, a violation (or unknown) a failure, an unreadable case an error."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from compliance.reports.aggregate import Totals
from compliance.reports.rendering import Rendered


class JunitReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        # The suite's counts go in its opening tag: test cases are spooled first, the file assembled at the end.
        self.body = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.tests = self.failures = self.errors = 0

    def write(self, rendered: Rendered) -> None:
        self.body.write(rendered.junit)
        tests, failures, errors = rendered.junit_counts
        self.tests += tests
        self.failures += failures
        self.errors += errors

    def close(self, totals: Totals) -> Path:
        with open(self.path, "w", encoding="utf-8") as out:
            out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
            counts = f'tests="{self.tests}" failures="{self.failures}" errors="{self.errors}"'
            out.write(f'<testsuites name="compliance batch" {counts}>\n')
            out.write(f'<testsuite name="compliance" {counts}>\n')
            self.body.seek(0)
            shutil.copyfileobj(self.body, out)
            out.write("</testsuite>\n</testsuites>\n")
        self.body.close()
        return self.path
