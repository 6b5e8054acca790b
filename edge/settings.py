"""Base class for configuration sections, importable by every feature without import cycles."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

PHONE_NUMBER = re.compile(r"^\+?[0-9*#]{2,20}$")
"""A phone number as lists, caller ID and commands carry it: digits (and * #), optional leading +."""


def check_phone_numbers(numbers: tuple[str, ...]) -> tuple[str, ...]:
    """A field validator body: every entry must be a phone number."""
    for number in numbers:
        if not PHONE_NUMBER.match(number):
            raise ValueError(f"{number!r} is not a phone number (digits, optional leading +)")
    return numbers


class Section(BaseModel):
    """Base of every config section: frozen, unknown keys rejected (each field has a title and description)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
