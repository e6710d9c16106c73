"""Entry point for ASGI servers: `uvicorn --factory app.asgi:create`."""

from fastapi import FastAPI

from app.core.runtime import tune_garbage_collector
from app.main import create_app


def create() -> FastAPI:
    app = create_app()
    tune_garbage_collector()
    return app
