"""The shell around the pure core: the owner thread (monitor), the lanes and
the worker budget, the scheduler, the report carried out, and what is kept
on disk (the state store, durable writes)."""
