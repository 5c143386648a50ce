"""Errors a client can cause, each carrying the HTTP status it is answered with."""

from __future__ import annotations


class ScoringError(Exception):
    """A request the server refuses; `status` is the HTTP status, the message names the field."""

    status: int = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        """The text sent to the client."""
        return str(self.args[0])


class BadRequest(ScoringError):
    """Malformed or invalid input (400)."""

    status = 400


class NotFound(ScoringError):
    """Unknown model, version or route (404)."""

    status = 404


class PayloadTooLarge(ScoringError):
    """Body over MAX_BODY_BYTES (413)."""

    status = 413


class TooManyRequests(ScoringError):
    """Over MAX_CONCURRENT_REQUESTS (429)."""

    status = 429


class NotReady(ScoringError):
    """Model not loaded yet, or the server is draining (503)."""

    status = 503


class RequestTimeout(ScoringError):
    """The request did not finish within REQUEST_TIMEOUT_MS (504)."""

    status = 504


class ArtifactError(Exception):
    """The artifact is missing, ambiguous or fails its digest check; the server must not load it."""


class Conflict(ScoringError):
    """The request clashes with what was already recorded (409)."""

    status = 409


class Unprocessable(ScoringError):
    """Well-formed JSON whose fields are wrong (422)."""

    status = 422
