"""The project's own errors. Services raise these; adapters translate them."""


class TenantctlError(Exception):
    """Base class for every error an adapter shows to a person as one line.

    `code` is an optional stable name for the case (e.g. "token_taken"), so an adapter that speaks
    other languages can say the same thing in its own words.
    """

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class NotFound(TenantctlError):
    """A named thing does not exist."""


class Conflict(TenantctlError):
    """The change clashes with existing state (duplicate, wrong status, ...)."""


class Invalid(TenantctlError):
    """Input is malformed or breaks a rule."""


class ConfigError(TenantctlError):
    """Settings or the database connection are unusable."""


class Unauthorized(TenantctlError):
    """No credentials, or unknown or revoked ones."""


class Forbidden(TenantctlError):
    """The actor may not do this (a permission check failed). Its code is always "forbidden"."""

    def __init__(self, message: str = "you may not do that", *, code: str = "forbidden") -> None:
        super().__init__(message, code=code)
