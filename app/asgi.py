"""Entry point for ASGI servers: `uvicorn --factory app.asgi:create`."""

from fastapi import FastAPI

from app.main import create_app


def create() -> FastAPI:
    return create_app()
