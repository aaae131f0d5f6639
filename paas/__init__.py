"""paas: a local Heroku-style platform (the control plane; see docs/architecture.md)."""
