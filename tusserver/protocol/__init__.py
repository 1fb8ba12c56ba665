"""The tus protocol over HTTP: handlers parse a request, call the upload service (`tusserver.uploads`)
and render the answer. `routes.routes(ctx)` lists the Starlette routes.

Nothing is imported here, so the upload service can use `protocol.headers`, `protocol.checksum` and
`protocol.digest` without importing the handlers.
"""
