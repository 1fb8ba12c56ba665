"""JWT authentication: pure token logic in `tokens`, the ASGI layer in `middleware`, access rules in `access`."""
