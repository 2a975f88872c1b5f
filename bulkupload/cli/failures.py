"""One table from the type of an error that stops a command to a plain sentence and exit code.

Every subcommand reports through it, so a problem reads the same whichever command met it; the
traceback is shown only with --debug. `attach` also uses the sentences for per-file errors.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass

from ..errors import (
    ApiError,
    AuthError,
    BulkUploadError,
    ConfigError,
    InsecureConnection,
    NetworkError,
    StateError,
    StorageError,
    TargetUnusable,
)

EXIT_USAGE = 2  # usage, configuration, credentials, target or state store; 0/1 come from the run


@dataclass(frozen=True, slots=True)
class Failure:
    kind: type[BaseException]
    sentence: str  # `{exc}` is the error's own text, `{name}` its type's name
    exit_code: int = EXIT_USAGE


# Most specific first: the first row whose type matches decides.
FAILURES: tuple[Failure, ...] = (
    Failure(ConfigError, "{exc}"),
    Failure(AuthError, "authentication failed: {exc}"),
    Failure(InsecureConnection, "{exc}"),
    Failure(TargetUnusable, "{exc}"),
    Failure(StateError, "{exc}"),  # its messages name the state store already
    Failure(NetworkError, "{exc}"),
    Failure(ApiError, "Procore refused the run: {exc}"),
    Failure(StorageError, "storage refused the run: {exc}"),
    Failure(BulkUploadError, "{exc}"),
    Failure(OSError, "{exc}"),
    Failure(Exception, "internal error: {name}: {exc}"),
)


def innermost(exc: BaseException) -> BaseException:
    """The error to report from a task group's ExceptionGroup: the first of ours, else the first."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    leaves = [innermost(e) for e in exc.exceptions]
    ours = [e for e in leaves if isinstance(e, BulkUploadError)]
    return (ours or leaves)[0]


def describe(exc: BaseException) -> tuple[str, int]:
    """(one plain sentence, exit code) for an error that stopped a command."""
    shown = innermost(exc)
    for failure in FAILURES:
        if isinstance(shown, failure.kind):
            text = failure.sentence.format(exc=shown, name=type(shown).__name__)
            if isinstance(shown, NetworkError):
                text = network_sentence(shown)
            return text, failure.exit_code
    return f"internal error: {type(shown).__name__}: {shown}", EXIT_USAGE


def network_sentence(exc: NetworkError) -> str:
    """Which host could not be reached and why; for the login host, how to name another."""
    text = str(exc)
    if not text.startswith("cannot reach"):
        text = f"cannot reach Procore: {text}"
    if exc.login:
        text += "; if that is not your login server, set --login-url or PROCORE_LOGIN_URL"
    return text


def report_failure(prog: str, exc: BaseException, *, debug: bool) -> int:
    """Print the one line (and, with --debug, the traceback first); return the exit code."""
    sentence, code = describe(exc)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    elif not isinstance(innermost(exc), BulkUploadError | OSError):
        sentence += " (rerun with --debug for details)"
    print(f"{prog}: error: {sentence}", file=sys.stderr)
    return code
