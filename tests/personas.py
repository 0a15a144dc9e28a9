"""Personas shared by every test file (healthchecks' hc/test.py style): filled in by the accounts work."""
