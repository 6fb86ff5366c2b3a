"""The gateway's one door to the runtime pods (HTTP)."""
