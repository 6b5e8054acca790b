"""Reading the command line's error paragraph in tests."""

from __future__ import annotations


def one_line(text: str) -> str:
    """A CLI error paragraph as one line: the CLI wraps it at 100 columns, so where a line breaks
    depends on the length of the paths in it; tests check the words, not the wrapping."""
    return " ".join(text.split())
