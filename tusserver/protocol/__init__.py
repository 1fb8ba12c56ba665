"""The tus protocol over HTTP: handlers parse a request, call the upload service (`tusserver.uploads`)
and render the answer. `routes.routes(ctx)` lists the Starlette routes.

Nothing is imported here: importing one module of the package (a test importing `protocol.headers`)
loads no handlers.
"""
