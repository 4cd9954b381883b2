"""How often the landing area is polled, and the sensor timings that follow from it.

One setting, ``MEDFOLLOW_LANDING_POLL_SECONDS`` (default an hour), read when the DAG files
are parsed. Everything else is derived so that an idle run never outlives its schedule:
sensors give up (soft-fail) after 80 % of the interval, so a run that found nothing has
ended before the next one is due, and a delivery that arrives is picked up by the next
poke, at most a twelfth of the interval (and never more than a minute) later. A run that
found deliveries is not timed out: a load interrupted half-way would only be retried.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Literal, TypedDict

POLL_ENV = "MEDFOLLOW_LANDING_POLL_SECONDS"
DEFAULT_POLL = timedelta(hours=1)
SHORTEST_POLL = timedelta(seconds=30)


def landing_poll() -> timedelta:
    """The polling interval; a value that is not a whole number of seconds >= 30 is refused
    at parse time (the DAG file fails to import with this message)."""
    text = os.environ.get(POLL_ENV)
    if text is None:
        return DEFAULT_POLL
    try:
        poll = timedelta(seconds=int(text))
    except ValueError:
        raise ValueError(f"{POLL_ENV} must be a whole number of seconds, not {text!r}") from None
    if poll < SHORTEST_POLL:
        raise ValueError(f"{POLL_ENV} must be at least {SHORTEST_POLL.seconds} seconds")
    return poll


class SensorTiming(TypedDict):
    poke_interval: float
    timeout: float
    mode: Literal["poke", "reschedule"]


def sensor_timing() -> SensorTiming:
    """Keyword arguments for a landing-area sensor: intervals in seconds, and the mode.

    Pokes a minute or more apart give the worker slot back in between (``reschedule``);
    shorter ones (a test's or a busy deployment's fast polling) keep it, because starting a
    task process for every poke would cost more than the poke."""
    poll = landing_poll().total_seconds()
    poke = min(60.0, max(5.0, poll / 12))
    return SensorTiming(
        poke_interval=poke, timeout=poll * 0.8, mode="reschedule" if poke >= 60 else "poke"
    )
