"""The `rathaus` command: serve, worker, migrate, seed-demo, openapi, mail-test."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from app.core.config import (
    PROJECT_ROOT,
    ConfigurationError,
    Environment,
    Settings,
    get_settings,
)

OPENAPI_PATH = PROJECT_ROOT / "openapi" / "openapi.json"


def _refuse_unsafe(settings: Settings) -> None:
    from app.startup import check_configuration, production_problems

    problems = production_problems(settings)
    if problems:
        for problem in problems:
            print(f"Refusing to start: {problem}", file=sys.stderr)
        raise SystemExit(2)
    try:
        check_configuration(settings)
    except ConfigurationError as exc:
        print(f"Refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _refuse_unusable_identity_providers(settings: Settings) -> None:
    from app.core.logging import configure_logging
    from app.startup import check_identity_providers

    configure_logging(settings.log_level, json=settings.log_json)
    try:
        asyncio.run(check_identity_providers(settings))
    except ConfigurationError as exc:
        print(f"Refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.server import BoundedHttpToolsProtocol

    settings = get_settings()
    _refuse_unsafe(settings)
    host = args.host or settings.host
    problem = bind_problem(settings, host)
    if problem:
        print(f"Refusing to start: {problem}", file=sys.stderr)
        return 2
    _refuse_unusable_identity_providers(settings)
    if args.migrate:
        cmd_migrate(argparse.Namespace(revision="head"))
    uvicorn.run(
        "app.asgi:create",
        factory=True,
        host=host,
        port=args.port or settings.port,
        workers=args.workers,
        loop="uvloop",
        http=BoundedHttpToolsProtocol,
        # The client address is decided by the app, from RATHAUS_TRUSTED_PROXIES
        # (`app.core.middleware.TrustedProxyMiddleware`); uvicorn's own trusts loopback.
        proxy_headers=False,
        access_log=False,
        log_level=settings.log_level.lower(),
    )
    return 0


def bind_problem(settings: Settings, host: str) -> str | None:
    """Outside production, anyone who reaches the server can sign in as an administrator
    (`dev-login`): it listens on loopback only, unless that is explicitly allowed."""
    if settings.env is Environment.production or settings.development_remote_access:
        return None
    if host == "localhost" or _is_loopback_address(host):
        return None
    return (
        f"RATHAUS_HOST (or --host) {host} is not a loopback address, and in {settings.env.value} "
        "mode anyone who reaches the server can sign in as an administrator; set "
        "RATHAUS_DEVELOPMENT_REMOTE_ACCESS=true to allow it."
    )


def _is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_worker(args: argparse.Namespace) -> int:
    from app.core.db import Database, create_engine
    from app.core.jobs.worker import Worker
    from app.core.logging import configure_logging
    from app.tasks import build_registry

    settings = get_settings()
    _refuse_unsafe(settings)
    if args.concurrency:
        settings = settings.model_copy(update={"worker_concurrency": args.concurrency})
    configure_logging(settings.log_level, json=settings.log_json)

    async def main() -> None:
        database = Database(create_engine(settings))
        worker = Worker(database, settings, build_registry())
        try:
            if args.once:
                await worker.run_until_idle()
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await worker.run(stop)
        finally:
            await database.dispose()

    asyncio.run(main())
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.core.migrations import upgrade

    settings = get_settings()
    if settings.is_sqlite:
        (PROJECT_ROOT / "var").mkdir(exist_ok=True)
    upgrade(settings.database_url, args.revision)
    print(f"Database migrated to {args.revision}.")
    return 0


def cmd_seed_demo(_args: argparse.Namespace) -> int:
    from app.core.db import Database, create_engine
    from app.demo import seed_demo

    settings = get_settings()
    if settings.env is Environment.production:
        print(
            "Refusing to seed demo data: it adds the development administrator, and "
            "RATHAUS_ENV is production.",
            file=sys.stderr,
        )
        return 2

    async def main() -> dict[str, int]:
        database = Database(create_engine(settings, pooled=False))
        try:
            return await seed_demo(database)
        finally:
            await database.dispose()

    added = asyncio.run(main())
    print("Demo data: " + ", ".join(f"{count} {kind} added" for kind, count in added.items()))
    return 0


def cmd_mail_test(args: argparse.Namespace) -> int:
    from app.core.db import Database, create_engine
    from app.core.i18n import Language
    from app.core.logging import configure_logging
    from app.notifications.errors import InvalidRecipientAddress
    from app.notifications.service import notification_service
    from app.notifications.transports import build_transport

    settings = get_settings()
    build_transport(settings)  # names an unknown or, in production, a development-only one
    configure_logging(settings.log_level, json=settings.log_json)

    async def main() -> str:
        database = Database(create_engine(settings, pooled=False))
        try:
            async with database.transaction() as session:
                delivery_id = await notification_service.send_test_message(
                    session, args.to, Language(args.language), instance=settings.public_base_url
                )
            return str(delivery_id)
        finally:
            await database.dispose()

    try:
        delivery_id = asyncio.run(main())
    except InvalidRecipientAddress:
        print("--to is not a valid e-mail address.", file=sys.stderr)
        return 2
    print(
        f"Test message queued as delivery {delivery_id}; the job worker sends it through the"
        f" {settings.mail_transport} transport."
    )
    if settings.mail_transport == "file":
        print(f"It will appear as an .eml file under {settings.mail_dir}.")
    return 0


def render_openapi() -> str:
    from app.main import create_app

    settings = Settings(database_url="sqlite+aiosqlite://", log_json=True)
    document = create_app(settings).openapi()
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def cmd_openapi(args: argparse.Namespace) -> int:
    output = Path(args.output)
    rendered = render_openapi()
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != rendered:
            print(f"{output} is out of date: run `rathaus openapi`.", file=sys.stderr)
            return 1
        print(f"{output} is up to date.")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(rendered, encoding="utf-8")
    print(f"Wrote {output}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rathaus", description="Digitales Rathaus: citizen-services backend."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="Serve the API (uvicorn, uvloop, httptools).")
    serve.add_argument("--host", help="Bind address (default: RATHAUS_HOST).")
    serve.add_argument("--port", type=int, help="Port (default: RATHAUS_PORT).")
    serve.add_argument("--workers", type=int, default=1, help="Server processes (default 1).")
    serve.add_argument("--migrate", action="store_true", help="Apply migrations before serving.")
    serve.set_defaults(handler=cmd_serve)

    worker = commands.add_parser("worker", help="Run background jobs from the job queue.")
    worker.add_argument("--once", action="store_true", help="Run due jobs, then exit.")
    worker.add_argument("--concurrency", type=int, help="Jobs at once (default: setting).")
    worker.set_defaults(handler=cmd_worker)

    migrate = commands.add_parser("migrate", help="Apply Alembic migrations.")
    migrate.add_argument("revision", nargs="?", default="head", help="Target (default head).")
    migrate.set_defaults(handler=cmd_migrate)

    seed = commands.add_parser("seed-demo", help="Add demo branches and departments (idempotent).")
    seed.set_defaults(handler=cmd_seed_demo)

    openapi = commands.add_parser("openapi", help="Write openapi/openapi.json.")
    openapi.add_argument("--output", default=str(OPENAPI_PATH), help="Where to write.")
    openapi.add_argument(
        "--check", action="store_true", help="Fail if the file differs from the app."
    )
    openapi.set_defaults(handler=cmd_openapi)

    mail_test = commands.add_parser(
        "mail-test", help="Queue a test message, to check the mail settings."
    )
    mail_test.add_argument("--to", required=True, help="Address to send the test message to.")
    mail_test.add_argument(
        "--language", choices=["de", "en"], default="de", help="Language (default de)."
    )
    mail_test.set_defaults(handler=cmd_mail_test)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigurationError as exc:
        print(str(exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
