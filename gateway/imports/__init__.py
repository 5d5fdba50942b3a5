"""Insurer portfolio imports (seeds 000 and 002)."""
