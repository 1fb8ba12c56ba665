"""The ASGI side that wraps the tus routes: the request guard, health endpoints, metrics and the access
log. Each is a pure ASGI middleware taking only its own arguments (Starlette's habit), so `app.py` only
lists them."""
