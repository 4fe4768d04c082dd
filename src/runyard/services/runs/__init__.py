"""Runs, one module per concept: ``requests`` (what a submission is made of), ``submission``, ``options``,
``reads`` (get, list, cancel, delete, update), ``transitions``, ``logs``, ``results`` (the runner's report,
output, assets) and ``tracked`` (runs that happened elsewhere). Callers import the module they need."""
