"""Pasture operator: reconciles Model and ModelDeployment into runtime workloads."""
