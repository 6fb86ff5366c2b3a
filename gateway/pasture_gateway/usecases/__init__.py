"""What the gateway does per request: resolve, hold through scale-from-zero,
choose a replica, forward with bounded retries; and its cluster listings."""
