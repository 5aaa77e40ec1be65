"""Fixtures of the chat tests: the Synthea patient the tools and the offline engine are asked about."""

from .patient_data import dennis, dennis_wearables, frozen  # noqa: F401
