"""JUnit XML for CI pipelines: a case is a testcase, a violation (or unknown) a failure, an unreadable case an error."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from compliance.engine.batch_worker import CaseOutcome
from compliance.reports.aggregate import Totals


class JunitReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        # The suite's counts go in its opening tag: test cases are spooled first, the file assembled at the end.
        self.body = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.tests = self.failures = self.errors = 0

    def add(self, outcome: CaseOutcome) -> None:
        result = outcome.result
        self.tests += 1
        classname = quoteattr(f"{result.jurisdiction or 'unknown'}.{result.procedure or 'unknown'}")
        name = quoteattr(result.case or result.file or "?")
        self.body.write(f"  <testcase classname={classname} name={name} file={quoteattr(result.file or '')}>\n")
        if result.error is not None:
            self.errors += 1
            self.body.write(f'    <error message={quoteattr(result.error)} type="input"/>\n')
        failed = [f for f in result.findings if f.status in ("violated", "unknown")]
        if failed:
            self.failures += 1
        for f in failed:
            citation = f"{f.citation.get('document', '')} {f.citation.get('clause', '')}"
            text = f"{f.message}\n{citation}\nexpected: {f.expected or ''}"
            self.body.write(
                f"    <failure message={quoteattr(f.message)} type={quoteattr(f.status + ':' + f.rule)}>"
                f"{escape(text)}</failure>\n"
            )
        self.body.write("  </testcase>\n")

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
