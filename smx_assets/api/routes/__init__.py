"""One module per resource: ``health`` (/health, /ready), ``alerts``, ``scores`` (stored score
histories), ``score`` (on-demand scoring), ``feedback``."""
