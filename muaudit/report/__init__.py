"""The audit report: a verdict table per method, in Markdown and self-contained HTML."""

from muaudit.report.summary import summary_table, write_report

__all__ = ["summary_table", "write_report"]
