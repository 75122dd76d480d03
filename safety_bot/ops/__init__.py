"""Operating the bot: logs, the HTTP listener (health, metrics), preflight checks, backups."""
