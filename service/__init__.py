"""The HTTP service: FastAPI over the request pipeline (``pipeline``: route, read, fall back,
shadow, record). ``app`` builds the application: its routers (uploads, monitoring, admin), the
auth dependencies and the state they share."""
