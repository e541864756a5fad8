"""Sub-commands of the ``smx`` CLI, one module each."""
