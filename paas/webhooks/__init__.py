"""App webhooks: signed HTTP notifications of an app's releases, builds, dynos, ..."""
