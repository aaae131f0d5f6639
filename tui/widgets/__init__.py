"""Widgets of the paas TUI."""
