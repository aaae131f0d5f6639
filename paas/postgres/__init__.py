"""PostgreSQL as a part: the server (embedded or external), add-on databases and their plans,
and the read-only credentials dataclips use. The add-on provider and dataclips sit above it."""
