"""The `helpdesk` command: run the stack or one of its pieces, feed demo tickets.

Subcommands import what they need when they run, so `helpdesk --help` and
`helpdesk worker` do not load the web stack, and `helpdesk api` does not
load the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from helpdesk.settings import Settings

# Exit codes: 1 for a failure at run time, 2 for a bad command line or
# configuration file (the argparse convention).
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _echo(line: str, *, error: bool = False) -> None:
    stream = sys.stderr if error else sys.stdout
    stream.write(line + "\n")
    stream.flush()


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        message = f"invalid port {text!r}: use a number"
        raise argparse.ArgumentTypeError(message) from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {value}: use 1 to 65535")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid share {text!r}: use a number from 0 to 1"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"invalid share {value}: use 0 to 1")
    return value


def _check_policy_file(path: Path | None) -> int | None:
    """Validate a policy file; print the problem and return 2 when it is bad."""
    if path is None:
        return None
    from helpdesk.policy_file import PolicyFileError, load_policy

    try:
        load_policy(path)
    except PolicyFileError as exc:
        _echo(f"error: {exc}", error=True)
        return EXIT_USAGE
    return None


def _check_classifier_files() -> int | None:
    """Check the classification rules and examples the worker will load.

    Reads them without training, so `helpdesk up` stops at once on a broken
    file rather than restarting a worker that exits on it.
    """
    from helpdesk.classification import example_sources, load_rules
    from helpdesk.classification.model import load_examples
    from helpdesk.config import ConfigFileError
    from helpdesk.settings import get_settings

    settings = get_settings()
    try:
        rules = load_rules(settings.classification_file)
        if rules.model.enabled:
            load_examples(example_sources(settings.classification_examples))
    except ConfigFileError as exc:
        _echo(f"error: {exc}", error=True)
        return EXIT_USAGE
    return None


def _check_distinct_ports(args: argparse.Namespace) -> int | None:
    """Print the problem and return 2 when two servers would share a port."""
    flags = {
        "--api-port": args.api_port,
        "--temporal-port": args.temporal_port,
        "--ui-port": args.ui_port,
    }
    seen: dict[int, str] = {}
    for flag, port in flags.items():
        if port in seen:
            _echo(
                f"error: {seen[port]} and {flag} are both {port}: the API, "
                "Temporal and its Web UI each need a port of their own",
                error=True,
            )
            return EXIT_USAGE
        seen[port] = flag
    return None


def _check_data_dir(path: Path) -> int | None:
    """Create the data directory; print the problem and return 2 when it fails."""
    if path.exists() and not path.is_dir():
        _echo(
            f"error: --data-dir {path} is a file, not a directory: choose a "
            "directory (it is created when missing)",
            error=True,
        )
        return EXIT_USAGE
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _echo(
            f"error: cannot create the data directory {path}: {exc.strerror}",
            error=True,
        )
        return EXIT_USAGE
    return None


def cmd_up(args: argparse.Namespace) -> int:
    from helpdesk.stack import StackConfig, run_stack

    checks = (
        lambda: _check_distinct_ports(args),
        lambda: _check_policy_file(args.sla_policy),
        _check_classifier_files,
        lambda: _check_data_dir(args.data_dir),
    )
    for check in checks:
        refused = check()
        if refused is not None:
            return refused
    config = StackConfig(
        data_dir=args.data_dir,
        api_port=args.api_port,
        temporal_port=args.temporal_port,
        ui_port=args.ui_port,
        sla_policy=args.sla_policy,
        log_level=args.log_level,
    )
    return run_stack(config, echo=_echo, warn=lambda line: _echo(line, error=True))


def cmd_worker(args: argparse.Namespace) -> int:
    from helpdesk.logging import configure_logging
    from helpdesk.settings import get_settings

    settings = get_settings()
    configure_logging(settings)
    from helpdesk.config import ConfigFileError
    from worker.main import run_worker

    try:
        asyncio.run(run_worker(settings))
    except ConfigFileError as exc:
        # run_worker has logged it; a bad file is a usage error, not a crash.
        _echo(f"error: {exc}", error=True)
        return EXIT_USAGE
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from helpdesk.logging import configure_logging
    from helpdesk.policy_file import PolicyFileError
    from helpdesk.settings import get_settings

    settings = get_settings()
    configure_logging(settings)
    from api.app import create_app

    try:
        app = create_app(settings)
    except PolicyFileError as exc:
        _echo(f"error: {exc}", error=True)
        return EXIT_USAGE
    uvicorn.run(
        app,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from helpdesk.logging import configure_logging
    from helpdesk.settings import get_settings

    settings = get_settings()
    configure_logging(settings)
    before, after, seeded = asyncio.run(_migrate_and_seed(settings))
    if before == after:
        _echo(f"the database schema is up to date (revision {after})")
    else:
        _echo(f"migrated the database from revision {before or 'none'} to {after}")
    if seeded:
        _echo(f"added {len(seeded)} specialists from the roster")
    else:
        _echo("every specialist in the roster is stored already; none added")
    return 0


async def _migrate_and_seed(
    settings: Settings,
) -> tuple[str | None, str | None, list[str]]:
    """Migrate the database and seed the roster; return the revisions before
    and after, and the ids of the specialists added."""
    from helpdesk.db import create_engine, seed_roster, upgrade_database

    before, after = await upgrade_database(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        seeded = await seed_roster(settings, engine)
    finally:
        await engine.dispose()
    return before, after, seeded


def cmd_demo(args: argparse.Namespace) -> int:
    from helpdesk.demo import DemoOptions, run_demo

    options = DemoOptions(
        file=args.file,
        api=args.api.rstrip("/"),
        resolve_share=args.resolve_share,
        concurrency=args.concurrency,
        seed=args.seed,
        assign_timeout=args.assign_timeout,
    )
    return asyncio.run(run_demo(options))


def cmd_classify(args: argparse.Namespace) -> int:
    from helpdesk.classification import use_rules
    from helpdesk.classification.evaluate import run_eval
    from helpdesk.config import ConfigFileError
    from helpdesk.settings import get_settings

    settings = get_settings()
    # Opened before the model trains, so a bad path fails at once.
    try:
        report = args.out.open("w", encoding="utf-8") if args.out else None
    except OSError as exc:
        _echo(f"error: cannot write {args.out}: {exc.strerror}", error=True)
        return EXIT_USAGE
    try:
        classifier = use_rules(
            settings.classification_file,
            settings.classification_examples,
            model=not args.rules_only,
            cache_dir=settings.model_cache_dir,
        )
        classifier.preload()
    except ConfigFileError as exc:
        if report is not None:
            report.close()
        _echo(f"error: {exc}", error=True)
        return EXIT_USAGE
    if report is None:
        return run_eval(args.eval, explain=args.explain, classifier=classifier)
    with report:
        return run_eval(
            args.eval, explain=args.explain, out=report, classifier=classifier
        )


def cmd_register_search_attributes(args: argparse.Namespace) -> int:
    from helpdesk.settings import get_settings

    settings = get_settings()
    address = args.address or settings.temporal_address
    namespace = args.namespace or settings.temporal_namespace
    try:
        added = asyncio.run(register_search_attributes(address, namespace))
    except SearchAttributeError as exc:
        _echo(f"error: {exc}", error=True)
        return EXIT_FAILURE
    for name in added:
        _echo(f"registered {name} (Keyword) in namespace {namespace!r}")
    if not added:
        _echo(f"all ticket search attributes are registered in namespace {namespace!r}")
    return 0


class SearchAttributeError(RuntimeError):
    """The search attributes could not be listed or registered."""


async def register_search_attributes(address: str, namespace: str) -> list[str]:
    """Register the ticket search attributes missing from `namespace`.

    Uses the operator service, as `temporal operator search-attribute
    create` does, with one request for all missing names. Returns the names
    added; attributes already registered as Keyword are left alone.
    Raises SearchAttributeError when Temporal cannot be reached, rejects the
    request, or has one of the names with another type.
    """
    from datetime import timedelta

    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )
    from temporalio.client import Client
    from temporalio.service import RPCError

    from helpdesk import search_attributes

    keyword = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    timeout = timedelta(seconds=10)
    try:
        client = await Client.connect(address, namespace=namespace)
    except RuntimeError as exc:
        raise SearchAttributeError(
            f"could not connect to Temporal at {address}: {exc}"
        ) from exc
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace), timeout=timeout
        )
    except RPCError as exc:
        raise SearchAttributeError(
            f"could not list the search attributes of namespace {namespace!r}: {exc}"
        ) from exc

    existing = dict(listed.custom_attributes)
    wrong = [
        f"{key.name} ({IndexedValueType.Name(existing[key.name])})"
        for key in search_attributes.ALL_KEYS
        if key.name in existing and existing[key.name] != keyword
    ]
    if wrong:
        raise SearchAttributeError(
            f"namespace {namespace!r} has {', '.join(wrong)}, but helpdesk needs "
            "Keyword: remove them with `temporal operator search-attribute "
            "remove` and run this command again"
        )
    names = [key.name for key in search_attributes.ALL_KEYS]
    missing = [name for name in names if name not in existing]
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace, search_attributes=dict.fromkeys(missing, keyword)
            ),
            timeout=timeout,
        )
    except RPCError as exc:
        raise SearchAttributeError(
            f"could not register {', '.join(missing)} in namespace {namespace!r}: {exc}"
        ) from exc
    return missing


def cmd_check_policy(args: argparse.Namespace) -> int:
    from helpdesk.policy_file import PolicyFileError, load_policy

    try:
        policy = load_policy(args.file)
    except PolicyFileError as exc:
        _echo(f"error: {exc}", error=True)
        return EXIT_USAGE
    _echo(f"{args.file}: valid SLA policy, version {policy.version}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="helpdesk",
        description="Support case orchestration on Temporal.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up",
        help="run Temporal, a worker and the API on this machine, in the foreground",
        description="Run the Temporal dev server, a worker and the API on "
        "127.0.0.1 until Ctrl-C. State persists in the data directory, so "
        "running it again carries on with the open tickets.",
    )
    up.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".data"),
        help="directory for temporal.db, helpdesk.db and logs (default: ./.data)",
    )
    up.add_argument("--api-port", type=_port, default=8000, help="default: 8000")
    up.add_argument(
        "--temporal-port", type=_port, default=7233, help="gRPC port (default: 7233)"
    )
    up.add_argument(
        "--ui-port", type=_port, default=8233, help="Web UI port (default: 8233)"
    )
    up.add_argument(
        "--sla-policy",
        type=Path,
        metavar="FILE",
        help="SLA policy YAML, checked before anything starts "
        "(default: the built-in policy)",
    )
    up.add_argument(
        "--log-level", default="INFO", help="worker and API log level (default: INFO)"
    )
    up.set_defaults(handler=cmd_up)

    worker = commands.add_parser(
        "worker",
        help="run a worker against an existing Temporal cluster and database",
        description="Run a ticket worker. Settings come from HELPDESK_* "
        "environment variables (HELPDESK_TEMPORAL_ADDRESS, "
        "HELPDESK_DATABASE_URL, HELPDESK_TASK_QUEUE, ...).",
    )
    worker.set_defaults(handler=cmd_worker)

    api = commands.add_parser(
        "api",
        help="run the HTTP API against an existing Temporal cluster and database",
        description="Run the HTTP API with uvicorn. Settings come from "
        "HELPDESK_* environment variables.",
    )
    api.add_argument("--host", help="bind address (default: HELPDESK_API_HOST)")
    api.add_argument("--port", type=_port, help="port (default: HELPDESK_API_PORT)")
    api.set_defaults(handler=cmd_api)

    migrate = commands.add_parser(
        "migrate",
        help="bring the database schema up to date and seed the roster "
        "(HELPDESK_DATABASE_URL)",
    )
    migrate.set_defaults(handler=cmd_migrate)

    demo = commands.add_parser(
        "demo",
        help="feed a JSONL file of tickets through the API and work some of them",
        description="Post every line of FILE as a ticket (keys that are not "
        "intake fields, such as `expected`, are ignored), drive a share of "
        "them to resolution as engineers would, and print a summary.",
    )
    demo.add_argument("--file", type=Path, required=True, help="JSONL of tickets")
    demo.add_argument(
        "--api",
        default="http://127.0.0.1:8000",
        help="API base URL (default: http://127.0.0.1:8000)",
    )
    demo.add_argument(
        "--resolve-share",
        type=_share,
        default=0.5,
        help="share of created tickets to work to resolution, 0 to 1 (default: 0.5)",
    )
    demo.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="requests in flight at once (default: 8)",
    )
    demo.add_argument(
        "--seed", type=int, default=7, help="seed that picks the tickets to resolve"
    )
    demo.add_argument(
        "--assign-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for a ticket to be assigned before working it "
        "(default: 30)",
    )
    demo.set_defaults(handler=cmd_demo)

    classify = commands.add_parser(
        "classify", help="measure the classifier on a labelled JSONL file"
    )
    classify.add_argument(
        "--eval", type=Path, required=True, metavar="FILE", help="labelled JSONL"
    )
    classify.add_argument(
        "--explain", action="store_true", help="print the reasons for each ticket"
    )
    classify.add_argument(
        "--out", type=Path, metavar="FILE", help="write the report here, not to stdout"
    )
    classify.add_argument(
        "--rules-only",
        action="store_true",
        help="leave the text model out, to compare the rules alone",
    )
    classify.set_defaults(handler=cmd_classify)

    register = commands.add_parser(
        "register-search-attributes",
        help="register the ticket search attributes in a Temporal namespace",
        description="Register TicketType, TicketCategory, TicketPriority, "
        "TicketStage, TicketAssignee and TicketSlaState (all Keyword) where "
        "they are missing. Run it once per namespace; running it again "
        "changes nothing. `helpdesk up` needs no registration.",
    )
    register.add_argument(
        "--address", help="Temporal host:port (default: HELPDESK_TEMPORAL_ADDRESS)"
    )
    register.add_argument(
        "--namespace", help="namespace (default: HELPDESK_TEMPORAL_NAMESPACE)"
    )
    register.set_defaults(handler=cmd_register_search_attributes)

    check = commands.add_parser("check-policy", help="validate an SLA policy file")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=cmd_check_policy)
    return parser


def exit_process(code: int) -> NoReturn:
    """Flush the output and end the process without interpreter finalization.

    The Temporal client's native threads can abort CPython's finalization
    with "Fatal Python error: PyGILState_Release" (temporalio/sdk-python
    issue 300, seen here with temporalio 1.35.0), which turns a finished
    command into a SIGABRT. Nothing is left to run at that point, so
    skipping finalization loses nothing once the output is flushed.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run() -> NoReturn:
    """Run the `helpdesk` command (the console script entry point)."""
    exit_process(main())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    run()
