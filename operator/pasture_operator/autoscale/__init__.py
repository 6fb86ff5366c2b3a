"""The metric-driven autoscaler: pure policy, scraping, per-deployment state."""
