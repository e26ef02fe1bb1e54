"""The audit report: a verdict table per method, in Markdown and self-contained HTML."""

from muaudit.report.summary import report_markdown, summary_table

__all__ = ["report_markdown", "summary_table"]
