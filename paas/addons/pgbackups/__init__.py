"""Heroku PGBackups: pg:backups capture, restore, download, public URLs, daily schedules."""
