"""Pure reconcile logic: resolve specs, plan children, derive status. No I/O here."""
