"""honeybee's Hydra plugins: the ``study`` sweeper (``hydra/sweeper=study``)."""
