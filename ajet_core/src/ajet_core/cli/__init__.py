"""The ``ajet`` command line."""
