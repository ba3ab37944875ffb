"""Errors a use case raises; the API maps each to its status code."""

from __future__ import annotations

# Entry points catch a missing or short secret key without reaching into the store.
from app.store.crypto import SecretBoxError as SecretBoxError


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(ServiceError):
    status = 422


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Forbidden(ServiceError):
    status = 403
