"""The uvicorn side: our HTTP protocol (transport guards, lean body hand-over, direct body transfers),
the worker threads that move bodies socket -> file, and the process's allocator tuning.

Nothing here knows tus: it serves any ASGI app, and the app reaches it only through scope extensions
(`server.direct_body.DIRECT_BODY`)."""
