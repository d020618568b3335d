"""Plugin discovery and registries."""
