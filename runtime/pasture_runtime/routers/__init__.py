"""HTTP routers: thin, they parse, call the service layer and encode."""
