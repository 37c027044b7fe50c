"""The project's own errors. Services raise these; adapters translate them."""


class TenantctlError(Exception):
    """Base class for every error an adapter shows to a person as one line."""


class NotFound(TenantctlError):
    """A named thing does not exist."""


class Conflict(TenantctlError):
    """The change clashes with existing state (duplicate, wrong status, ...)."""


class Invalid(TenantctlError):
    """Input is malformed or breaks a rule."""


class ConfigError(TenantctlError):
    """Settings or the database connection are unusable."""
