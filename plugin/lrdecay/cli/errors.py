"""What every `lrdecay` command shares about failing: exit codes and bad input.

Exit codes: 0 success; 1 the search (or report) failed; 2 bad input (one
line on stderr, no traceback); 130 interrupted (Ctrl-C); 143 terminated
(SIGTERM during a search). Every error that means bad
input is a `UsageError`; `lrdecay.cli.main` prints it as one line.
"""

from __future__ import annotations

import sys

from lrdecay.errors import Terminated
from lrdecay.errors import UsageError as UsageError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process it ended


def one_line(error: BaseException | str) -> str:
    """The message of `error` on one line, any credentials in it masked."""
    from lrdecay.tracking.uri import redact_text

    text = redact_text(str(error).strip()) or type(error).__name__
    return " ".join(text.split())


def report_stop(error: KeyboardInterrupt, advice: str = "") -> int:
    """Say on stderr that Ctrl-C or SIGTERM stopped the command; its exit code.

    `lrdecay: interrupted` (130) or `lrdecay: terminated (SIGTERM)` (143),
    followed by `; <advice>` when given.
    """
    terminated = isinstance(error, Terminated)
    said = "terminated (SIGTERM)" if terminated else "interrupted"
    print(
        f"lrdecay: {said}; {advice}" if advice else f"lrdecay: {said}", file=sys.stderr
    )
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
