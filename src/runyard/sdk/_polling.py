"""Client-side polling with exponential backoff, exactly as the Nextmv SDK 0.28.5 documents it."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class PollingOptions:
    """How to poll: the delay before try ``n`` is ``delay + backoff·2^n + U(0, jitter)``, capped at
    ``max_delay``; ``max_duration`` (s) and ``max_tries`` bound it when non-negative; ``stop()``
    returning True ends polling with ``None``."""

    backoff: float = 0.9
    delay: float = 0.1
    initial_delay: float = 1
    max_delay: float = 20
    max_duration: float = -1
    max_tries: int = -1
    jitter: float = 1
    verbose: bool = False
    stop: Callable[[], bool] | None = None


DEFAULT_POLLING_OPTIONS = PollingOptions()


def next_delay(options: PollingOptions, ix: int, max_reached: bool) -> tuple[float, bool]:
    """The sleep after try ``ix`` and whether the cap has been reached (it then stays reached)."""
    if max_reached:
        return options.max_delay, True
    delay = options.delay + options.backoff * 2**ix + random.uniform(0, options.jitter)
    if delay >= options.max_delay:
        return options.max_delay, True
    return delay, False


class PollSchedule:
    """The documented polling schedule as a state machine, shared by :func:`poll` and :func:`apoll`."""

    def __init__(self, options: PollingOptions) -> None:
        self.options = options
        self.ix = 0
        self.start = time.time()
        self._max_reached = False

    def initial_delay(self) -> float:
        self._say(f"polling | sleeping for initial delay: {self.options.initial_delay}")
        return self.options.initial_delay

    def begin(self) -> None:
        """Start the clock (after the initial delay)."""
        self.start = time.time()

    def next_try(self) -> bool:
        """True to make another try, False when ``stop()`` says so; ``RuntimeError`` past ``max_tries``."""
        opts = self.options
        if 0 <= opts.max_tries <= self.ix:
            raise RuntimeError(f"polling did not succeed after {opts.max_tries} tries")
        self.ix += 1
        if opts.stop is not None and opts.stop():
            self._say("polling | stop condition met, stopping polling")
            return False
        return True

    def after_failure(self) -> float:
        """The sleep before the next try; ``TimeoutError`` past ``max_duration``."""
        passed = time.time() - self.start
        self._say(f"polling | try # {self.ix}, ok: False; elapsed time: {passed}")
        if 0 <= self.options.max_duration <= passed:
            raise TimeoutError(
                f"polling did not succeed after {passed} seconds, exceeds max duration: {self.options.max_duration}"
            )
        delay, self._max_reached = next_delay(self.options, self.ix, self._max_reached)
        self._say(f"polling | sleeping for duration: {delay}")
        return delay

    def _say(self, message: str) -> None:
        if self.options.verbose:
            print(message, file=sys.stderr)


def poll(
    polling_options: PollingOptions,
    polling_func: Callable[[], tuple[Any, bool]],
    _sleep_func: Callable[[float], None] = time.sleep,
) -> Any:
    """Call ``polling_func`` until it returns ``(result, True)``; return ``result``.

    Raises ``TimeoutError`` past ``max_duration`` and ``RuntimeError`` after ``max_tries``; returns
    ``None`` when ``stop()`` returns True.
    """
    schedule = PollSchedule(polling_options)
    _sleep_func(schedule.initial_delay())
    schedule.begin()
    while schedule.next_try():
        result, ok = polling_func()
        if ok:
            return result
        _sleep_func(schedule.after_failure())
    return None


async def apoll(polling_options: PollingOptions, polling_func: Callable[[], Awaitable[tuple[Any, bool]]]) -> Any:
    """:func:`poll` for an async ``polling_func``, sleeping with ``asyncio.sleep``."""
    schedule = PollSchedule(polling_options)
    await asyncio.sleep(schedule.initial_delay())
    schedule.begin()
    while schedule.next_try():
        result, ok = await polling_func()
        if ok:
            return result
        await asyncio.sleep(schedule.after_failure())
    return None
