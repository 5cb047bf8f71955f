"""Channel implementations: outbox folder, SMTP, webhooks (JSON, Slack, Teams)."""
