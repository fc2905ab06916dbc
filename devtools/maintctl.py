"""maintctl: the operator's command line for what has no HTTP endpoint.

API keys are minted, listed and revoked here, never over the API, so a
leaked key cannot create more keys. It works on whatever table TABLE_NAME
names (the variable the functions read) through boto3's default
configuration: AWS credentials and region for a deployed stack,
AWS_ENDPOINT_URL_DYNAMODB for a local one (see docs/local.md).

    maintctl api-keys create --name NAME [--read-only]   # the key is the last line
    maintctl api-keys list
    maintctl api-keys revoke NAME
    maintctl tick [--at UNIX_SECONDS]                    # one scheduler tick, now
    maintctl recount-feed [--settle SECONDS]             # repair the feed's counters
    maintctl index-monitors                              # repair the monitor-window index
    maintctl follow-stream [--once] [--from-start|--from-latest]   # a local table's stream
                                                         # to the indexer and the notifier
    maintctl samples --key KEY [--out DIR] [--start UNIX_SECONDS]   # events/ at today's times
    maintctl hold-paused                                 # once, after upgrading to holds
"""

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from maintsvc.clock import now_seconds
from maintsvc.config import Settings, load_settings
from maintsvc.derived.reconcile import repair_counters, repair_windows
from maintsvc.edge import apikeys
from maintsvc.lifecycle.holds import hold_paused
from maintsvc.lifecycle.scheduler import run_tick
from maintsvc.storage.store import Store


def _create(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    try:
        key = apikeys.create_api_key(store, args.name, read_only=args.read_only)
    except apikeys.DuplicateKeyName:
        print(f"maintctl: an API key named {args.name!r} already exists", file=sys.stderr)
        return 1
    scope = apikeys.READ if args.read_only else apikeys.WRITE
    print(f"Created {scope} API key {args.name!r} in table {settings.table_name}.")
    print("It is shown only this once; send it as 'Authorization: Bearer <key>':")
    print(key)
    return 0


def _list(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    rows = [("NAME", "SCOPE", "STATUS", "CREATED_AT")] + [
        (k.name, k.scope, k.status, k.created_at) for k in apikeys.list_api_keys(store)
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for *padded, last in rows:
        print("  ".join([v.ljust(w) for v, w in zip(padded, widths, strict=True)] + [last]))
    return 0


def _revoke(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    if not apikeys.revoke_api_key(store, args.name):
        print(f"maintctl: no API key named {args.name!r}", file=sys.stderr)
        return 1
    print(
        f"Revoked API key {args.name!r}. Warm functions that used it in the last "
        f"{settings.api_key_cache_seconds} s may accept it for that long (API_KEY_CACHE_SECONDS)."
    )
    return 0


def _tick(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    """One scheduler tick, the code the scheduler function runs every minute."""
    now = now_seconds() if args.at is None else args.at
    report = run_tick(store, settings, now)
    print(f"tick at {now}: {json.dumps(report.as_dict(), sort_keys=True)}")
    return 0


def _recount(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    """Recount every feed bucket twice, `--settle` seconds apart, and fix the counters that
    differed the same way both times (safe while writes continue). The reconciler does the
    same on its own within the hour; this is for not waiting."""
    report = repair_counters(store, args.settle)
    print(f"{report.counters_fixed} counter items rewritten in table {settings.table_name}")
    return 0


def _index_monitors(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    """Remove every filed window that is not true and file every missing one (data written
    before the indexer kept the index, records it gave up on)."""
    report = repair_windows(store)
    print(
        f"Filed {report.windows_filed} and removed {report.windows_removed} monitor windows "
        f"in table {settings.table_name}."
    )
    return 0


def _follow_stream(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    """The table's stream to IndexerFunction and NotifierFunction in this process, as Lambda's
    event source mappings deliver it deployed (sam local runs none): devtools.streamfollow."""
    from devtools.streamfollow import FollowError, Options, follow_stream
    from devtools.template import LOCAL_TABLE_NAME, TemplateError

    endpoint = args.endpoint or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", "")
    if not endpoint:
        print(
            "maintctl: follow-stream reads a local table's stream: give --endpoint (DynamoDB "
            "Local: http://127.0.0.1:8000) or set AWS_ENDPOINT_URL_DYNAMODB",
            file=sys.stderr,
        )
        return 2
    table = args.table or os.environ.get("TABLE_NAME") or LOCAL_TABLE_NAME
    options = Options(
        endpoint=endpoint,
        table=table,
        start=args.start,
        once=args.once,
        checkpoint=args.checkpoint,
        eventbridge=args.eventbridge or os.environ.get("AWS_ENDPOINT_URL_EVENTBRIDGE") or None,
    )
    try:
        return follow_stream(options)
    except (FollowError, TemplateError) as exc:
        print(f"maintctl: follow-stream: {exc}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as exc:
        print(f"maintctl: follow-stream: table {table} at {endpoint}: {exc}", file=sys.stderr)
        return 1


def _samples(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    """events/ with its times moved to today and a real key in: devtools.samples."""
    from devtools import samples

    try:
        if args.refresh_templates:
            names = samples.refresh_templates()
            print(f"Rewrote {', '.join(names)} in {samples.SAMPLES_DIR}.")
            return 0
        if not args.key:
            print("maintctl: samples needs --key (or --refresh-templates)", file=sys.stderr)
            return 2
        now = now_seconds()
        start = samples.default_start(now) if args.start is None else args.start
        names = samples.write_samples(args.out, args.key, start, now)
    except samples.SampleError as exc:
        print(f"maintctl: samples: {exc}", file=sys.stderr)
        return 1
    message = samples.read_sample(samples.TRANSITION_SAMPLE, args.out)["Records"][0]
    ready_at = int(json.loads(message["body"])["due"])
    print(f"Wrote {len(names)} samples to {args.out}: the first window starts at {start}")
    print(f"({samples.iso(start)}); the API samples send the key given.")
    print(f"{samples.TRANSITION_SAMPLE} applies the READY change due at {ready_at}")
    print(f"({samples.iso(ready_at)}): before then the worker finds nothing to do.")
    return 0


def _add_samples(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from devtools.samples import DEFAULT_OUT

    sample = commands.add_parser(
        "samples", help="write events/ with today's times and a real key (for sam local invoke)"
    )
    sample.add_argument("--key", help="the API key the API samples send (maintctl api-keys create)")
    sample.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="where to write them (default: .local-data/events)",
    )
    sample.add_argument(
        "--start",
        type=int,
        metavar="UNIX_SECONDS",
        help="the first window's start (default: a whole hour, one to two hours from now)",
    )
    sample.add_argument(
        "--refresh-templates",
        action="store_true",
        help="rewrite the committed stream and queue samples with the service's current code",
    )
    sample.set_defaults(run=_samples)


def _add_follow_stream(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    follow = commands.add_parser(
        "follow-stream",
        help="deliver a local table's stream to the indexer and the notifier, as Lambda would "
        "(for sam local start-api, which does not)",
    )
    follow.add_argument(
        "--endpoint",
        help="the DynamoDB (and DynamoDB Streams) endpoint (default: AWS_ENDPOINT_URL_DYNAMODB)",
    )
    follow.add_argument(
        "--table", help="the table (default: TABLE_NAME, else maintenance-windows-local)"
    )
    start = follow.add_mutually_exclusive_group()
    start.add_argument(
        "--from-start",
        dest="start",
        action="store_const",
        const="TRIM_HORIZON",
        help="every function from the oldest record the stream holds (checkpoint forgotten)",
    )
    start.add_argument(
        "--from-latest",
        dest="start",
        action="store_const",
        const="LATEST",
        help="every function from the next new record (checkpoint forgotten); without either, "
        "the checkpoint, else each function's StartingPosition in template.yaml",
    )
    follow.add_argument(
        "--once", action="store_true", help="deliver what the stream holds now, then exit"
    )
    follow.add_argument(
        "--checkpoint",
        type=Path,
        metavar="FILE",
        help="where the positions are kept (default: .local-data/follow-stream/<table>.json)",
    )
    follow.add_argument(
        "--eventbridge",
        metavar="URL",
        help="send the notifier's events to this EventBridge endpoint (default: "
        "AWS_ENDPOINT_URL_EVENTBRIDGE; without either they are printed, not sent)",
    )
    follow.set_defaults(run=_follow_stream, start=None)


def _hold_paused(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    """Hold the open events of every paused maintenance: once, after the upgrade that made a
    window's start one write conditional on the event alone (docs/decisions.md)."""
    held = hold_paused(store, now_seconds())
    print(f"Held {held} open events of paused maintenances in table {settings.table_name}.")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="maintctl",
        description="Operate a maintenance-windows table (TABLE_NAME; boto3 configuration).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    keys_parser = commands.add_parser("api-keys", help="create, list and revoke API keys")
    key_commands = keys_parser.add_subparsers(dest="action", required=True)
    create = key_commands.add_parser("create", help="mint a key; it is printed last, once")
    create.add_argument("--name", required=True, help="unique name of the key")
    create.add_argument("--read-only", action="store_true", help="GET only (scope read)")
    create.set_defaults(run=_create)
    key_commands.add_parser("list", help="names, scopes, statuses").set_defaults(run=_list)
    revoke = key_commands.add_parser("revoke", help="deactivate a key by name")
    revoke.add_argument("name")
    revoke.set_defaults(run=_revoke)

    tick = commands.add_parser("tick", help="run one scheduler tick against the table")
    tick.add_argument("--at", type=int, metavar="UNIX_SECONDS", help="the tick's now")
    tick.set_defaults(run=_tick)

    recount = commands.add_parser(
        "recount-feed", help="repair the feed's counters from the events (safe while writing)"
    )
    recount.add_argument(
        "--settle",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="time between the two recounts: longer than the indexer's lag (default 15)",
    )
    recount.set_defaults(run=_recount)

    backfill = commands.add_parser(
        "index-monitors",
        help="repair the monitor-window index: file missing windows, remove untrue ones",
    )
    backfill.set_defaults(run=_index_monitors)
    _add_follow_stream(commands)
    _add_samples(commands)

    commands.add_parser(
        "hold-paused", help="hold the open events of paused maintenances (once, after upgrading)"
    ).set_defaults(run=_hold_paused)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings()
    try:
        code: int = args.run(Store(settings.table_name), settings, args)
    except (ClientError, BotoCoreError) as exc:
        print(f"maintctl: table {settings.table_name}: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
