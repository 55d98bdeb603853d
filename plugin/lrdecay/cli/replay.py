"""`lrdecay replay FILE`: send an offline run file to MLflow.

A fit whose tracking server could not be reached writes its run to a local
file (`lrdecay-offline/run-....json`); this command re-imports it through
`lrdecay.tracking.offline.replay`, the one replay entry point.
"""

from __future__ import annotations

import argparse
import os
import sys

from lrdecay.cli.errors import EXIT_FAILED, EXIT_OK, UsageError, one_line


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `replay` to the `lrdecay` subcommands."""
    parser = commands.add_parser(
        "replay",
        help="send an offline run file (written when the server was down) to MLflow",
        description="Re-import the runs that lrdecay wrote to a local file "
        "because the tracking server could not be reached.",
    )
    parser.add_argument("file", metavar="FILE", help="the offline run file")
    parser.add_argument(
        "--tracking-uri", metavar="URI", help="default: $MLFLOW_TRACKING_URI"
    )
    parser.set_defaults(handler=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    """`lrdecay replay`: print the replayed run's id."""
    from lrdecay.tracking import uri as tracking_uri

    path = args.file
    if not os.path.isfile(path):
        raise UsageError(f"offline run file not found: {path!r}")
    # Without a URI the file's own is used (offline.replay): checked by MLflow.
    uri = tracking_uri.resolve(args.tracking_uri)
    if uri is not None:
        try:
            tracking_uri.check_reachable(uri)
        except tracking_uri.TrackingUnreachable as error:
            raise UsageError(str(error)) from None
        uri = tracking_uri.hand_credentials_to_mlflow(uri)
    from lrdecay.tracking.offline import replay

    try:
        run_id = replay(path, tracking_uri=uri)
    except (ValueError, KeyError) as error:
        raise UsageError(f"cannot replay {path!r}: {one_line(error)}") from None
    except Exception as error:
        print(f"lrdecay: replay failed: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    print(run_id)
    return EXIT_OK
