"""Test helpers for the DSP tests: independent signal sources (spandsp, minimodem) and line impairments."""
