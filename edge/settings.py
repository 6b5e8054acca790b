"""Base class for configuration sections, importable by every feature without import cycles."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every config section: frozen, unknown keys rejected (each field has a title and description)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
