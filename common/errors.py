"""Errors a client sees: Heroku's `{"id": ..., "message": ...}` with an HTTP status."""

from __future__ import annotations


class PaasError(Exception):
    def __init__(self, status: int, id: str, message: str):
        super().__init__(message)
        self.status = status
        self.id = id
        self.message = message

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "message": self.message}


def not_found(what: str = "app") -> PaasError:
    return PaasError(404, "not_found", f"Couldn't find that {what}.")


def invalid(message: str) -> PaasError:
    return PaasError(422, "invalid_params", message)


def bad_request(message: str) -> PaasError:
    return PaasError(400, "bad_request", message)


def conflict(message: str) -> PaasError:
    return PaasError(409, "conflict", message)


class StartupError(RuntimeError):
    """A reason the daemon cannot start, worded for the person who started it (no traceback)."""
