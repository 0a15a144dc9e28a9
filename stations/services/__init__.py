"""Station workflows, one module each (docs/architecture.md has the map)."""
