"""Errors a request can meet, each carrying the HTTP status it is answered with, and the one
function that writes an error body."""

from __future__ import annotations

import orjson


def error_document(message: str, request_id: str | None = None) -> dict[str, str]:
    """The JSON body of every refusal: `{"error": ...}`, plus the request id when there is one."""
    document = {"error": message}
    if request_id is not None:
        document["requestId"] = request_id
    return document


def error_body(message: str, request_id: str | None = None) -> bytes:
    """`error_document` serialised; every error answer of the server is built here."""
    return orjson.dumps(error_document(message, request_id))


class ScoringError(Exception):
    """A request the server refuses; `status` is the HTTP status, the message names the field."""

    status: int = 400
    #: the connection cannot be reused (the request body was not read to its end)
    close_connection: bool = False

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        """The text sent to the client."""
        return str(self.args[0])

    @property
    def server_fault(self) -> bool:
        """Whether the server or the model is to blame (5xx); client mistakes are 4xx."""
        return self.status >= 500


class BadRequest(ScoringError):
    """Malformed or invalid input (400)."""

    status = 400


class MissingValuesRefused(BadRequest):
    """The rows hold missing values (NaN, JSON null) and the model refused them (400); the
    message is the model's own, until the data plane names the input (missing.py)."""


class NotFound(ScoringError):
    """Unknown model, version or route (404)."""

    status = 404


class MethodNotAllowed(ScoringError):
    """A known route asked with another method (405)."""

    status = 405


class BodyTimeout(ScoringError):
    """The request body did not arrive within REQUEST_TIMEOUT_MS (408): the client's doing."""

    status = 408
    close_connection = True


class Conflict(ScoringError):
    """The request clashes with what was already recorded (409)."""

    status = 409


class PayloadTooLarge(ScoringError):
    """Body over MAX_BODY_BYTES, or an answer over MAX_RESPONSE_BYTES the client asked for (413)."""

    status = 413
    close_connection = True


class UnsupportedMediaType(ScoringError):
    """A Content-Type the route cannot read (415)."""

    status = 415


class Unprocessable(ScoringError):
    """Well-formed JSON whose fields are wrong (422)."""

    status = 422


class TooManyRequests(ScoringError):
    """Over MAX_CONCURRENT_REQUESTS, or every scoring-script worker busy (429)."""

    status = 429


class ClientGone(ScoringError):
    """The client closed the connection before its request was read (499, nginx's code)."""

    status = 499


class ServerFault(ScoringError):
    """The server or the model failed (500); the message never carries a script's own text
    unless EXPOSE_ERRORS is set."""

    status = 500


class NotReady(ScoringError):
    """Model not loaded yet, draining, or every scoring-script worker stuck (503)."""

    status = 503


class RequestTimeout(ScoringError):
    """The server did not answer within REQUEST_TIMEOUT_MS (504)."""

    status = 504


class ArtifactError(Exception):
    """The artifact is missing, ambiguous or fails its digest check; the server must not load it."""


class ArtifactRefused(ArtifactError):
    """An artifact fetch could not get or trust; `reason` names the problem as a code (the
    Model's Degraded reason, e.g. ArtifactNotFound) and the message says where and why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
