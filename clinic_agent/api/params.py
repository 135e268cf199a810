"""Reading request parameters: each accessor checks type and size and names the field it rejects."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from clinic_agent.core.errors import InvalidInput
from clinic_agent.core.validation import text_field


class Params:
    """The ``params`` object of a request."""

    def __init__(self, data: Any) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidInput("params must be an object")
        self.data: dict[str, Any] = data

    def __contains__(self, key: str) -> bool:
        return self.data.get(key) is not None

    def text(self, key: str, *, max_length: int = 200) -> str:
        """A required, non-empty string."""
        value = self.data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{key} is required")
        return text_field(key, value, max_length=max_length)

    def optional_text(self, key: str, *, max_length: int = 200) -> str | None:
        """A string, or None when absent or empty."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidInput(f"{key} must be text")
        return text_field(key, value, max_length=max_length) or None

    def secret(self, key: str) -> str:
        """A passphrase or PIN: required, kept exactly as given."""
        value = self.data.get(key)
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"{key} is required")
        if len(value) > 1024:
            raise InvalidInput(f"{key} is too long")
        return value

    def integer(self, key: str, *, default: int | None = None, low: int = 0, high: int = 1_000_000) -> int:
        """A whole number within bounds."""
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{key} must be a whole number")
        if not low <= value <= high:
            raise InvalidInput(f"{key} must be between {low} and {high}")
        return value

    def flag(self, key: str, *, default: bool = False) -> bool:
        """A boolean."""
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise InvalidInput(f"{key} must be true or false")
        return value

    def day(self, key: str) -> date | None:
        """An ISO date (YYYY-MM-DD), or None."""
        value = self.optional_text(key, max_length=10)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{key} {value!r} is not a date (YYYY-MM-DD)") from None

    def moment(self, key: str) -> datetime | None:
        """An ISO date-time; without a zone it is taken as the PC's local time."""
        value = self.optional_text(key, max_length=40)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{key} {value!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
        return moment if moment.tzinfo else moment.astimezone()

    def items(self, key: str) -> list[Any]:
        """A list (empty when absent)."""
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise InvalidInput(f"{key} must be a list")
        return value

    def object(self, key: str) -> dict[str, Any]:
        """A nested object (empty when absent)."""
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            raise InvalidInput(f"{key} must be an object")
        return value
