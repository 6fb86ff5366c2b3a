"""kopf-facing glue: watch events into the store and the work queue."""
