"""The one error this package raises: a message fit for the script log (secrets already masked)."""

from __future__ import annotations


class ConnectorError(Exception):
    """A connection, query or connector failed; ``message`` says why, in the database's own words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
