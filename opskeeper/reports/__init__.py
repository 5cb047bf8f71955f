"""Reports for people: markdown and HTML, run summaries, evidence packs."""
