"""The training loop behind ``ajet train`` (debug backbone) and its run directory/checkpoints."""
