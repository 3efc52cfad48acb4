"""The one error type for bad user input: it names the field and what is allowed."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range.

    ``str(err)`` is a single line such as
    ``quant.weight_bits: 3 is not allowed (allowed: 2, 4, 8, 16, 32)``, optionally
    prefixed with the file it came from, so a command line can print it as is.
    """

    def __init__(self, field: str, message: str, source: str | None = None) -> None:
        self.field = field
        self.message = message
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.field}: {self.message}" if self.field else f"{where}{self.message}"

    def within(self, prefix: str | None = None, source: str | None = None) -> "ConfigError":
        """The same error with the field nested under ``prefix`` and/or attributed to ``source``."""
        field = f"{prefix}.{self.field}" if prefix and self.field else (prefix or self.field)
        return ConfigError(field, self.message, source or self.source)
