"""Screens of the paas TUI (one per mode: overview, app, router, logs, kafka, dataclips)."""
