"""HTTP routers: thin, they parse, call the use cases (usecases/) and encode."""
