"""Pure wire shapes: error bodies, cluster listings (tags, ps, models, show)."""
