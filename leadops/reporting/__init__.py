"""Reporting: render the weekly report (self-contained HTML with inline charts) and
write spreadsheet-safe CSV exports. Pure rendering: callers pass plain dicts built
by ``leadops.domain.metrics`` and decide where the output goes."""
