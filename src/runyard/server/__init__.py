"""The HTTP server: FastAPI app factory, routers, wire schemas, error mapping."""
