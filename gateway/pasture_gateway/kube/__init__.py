"""The gateway's one door to the apiserver: watches (Models, ModelDeployments,
runtime pods) and the two writes it makes (scale up from zero, demand annotations)."""
