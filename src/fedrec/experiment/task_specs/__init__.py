"""The built-in task specs, registered lazily in ``fedrec.registry.TASKS`` by the name of their module."""
