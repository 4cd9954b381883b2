"""The one exception type for expected failures, and the CPR scrubber behind every message.

Anything raised as MedfollowError is a condition a user can act on (a refused delivery,
a server that will not start, a bad argument). The CLI prints its message as one line and
exits non-zero; it never shows a traceback for it.

Messages often quote third-party errors (a CSV parser echoing the offending line, a
database error echoing a value), and those can carry a CPR number. Every message is scrubbed
on construction so that no code path can put a CPR into a log, the audit table or XCom.
"""

from __future__ import annotations

from medfollow_core.cpr_shape import CPR_SHAPED


def scrub(text: str) -> str:
    """Mask anything shaped like a CPR number, in any spelling (see `cpr_shape.CPR_SHAPED`)."""
    return CPR_SHAPED.sub("<cpr>", text)


class MedfollowError(Exception):
    """An expected failure with a one-line, user-facing, CPR-free message."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(" ".join(str(message).split())))
