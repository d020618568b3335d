"""Judgers of ajet-plugins-std (each module is imported only when a config selects it)."""
