"""Retries and a circuit breaker for remote model providers: the one place that owns them.

SDK-level retries are turned off in every provider; a call goes through `resilient_stream`:

- a transient failure before the first event (429, 5xx, a timeout, a dropped connection) is
  retried a bounded number of times, after the server's `Retry-After` when it sends one and
  otherwise with exponential backoff and jitter (tenacity);
- a failure after the first event is not retried (the person has already seen the text): the
  partial answer stays and the error says the answer is incomplete;
- refusals that retrying cannot fix (a bad key, no permission, no quota) fail at once with a
  sentence for the admin;
- after repeated failed calls the provider's breaker opens and calls fail fast for a cool-down,
  so a dead provider costs one quick error instead of a wait per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from agents.errors import ModelError
from agents.models.base import ModelEvent, ModelNotice, TextChunk, ToolCall

log = logging.getLogger(__name__)


class TransientProviderError(ModelError):
    """A failure worth retrying; `retry_after` is the server's own delay, in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_of(error: object) -> float | None:
    """The `Retry-After` seconds of an SDK's HTTP error, if the server sent them."""
    try:
        value = error.response.headers.get("retry-after")  # type: ignore[attr-defined]
        return max(0.0, float(value)) if value is not None else None
    except (AttributeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one call."""

    attempts: int = 3
    """Tries in all, the first included."""
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 30.0
    """A server asking for a longer wait than this is not waited for: the call fails."""


@dataclass
class CircuitBreaker:
    """Opens after `threshold` failed calls in a row; half-opens after `cooldown_s`."""

    threshold: int = 5
    cooldown_s: float = 30.0
    failures: int = 0
    opened_at: float | None = field(default=None)

    def check(self, provider: str) -> None:
        """Raise if calls to `provider` are being skipped right now."""
        if self.opened_at is None:
            return
        left = self.cooldown_s - (time.monotonic() - self.opened_at)
        if left > 0:
            raise ModelError(
                f"{provider} failed {self.failures} times in a row, so it is skipped for "
                f"another {left:.0f} s."
            )

    def succeeded(self) -> None:
        self.failures, self.opened_at = 0, None

    def failed(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = time.monotonic()


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    backoff = wait_random_exponential(multiplier=policy.base_delay_s, max=policy.max_delay_s)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientProviderError) and error.retry_after is not None:
            return error.retry_after
        return backoff(state)

    return wait


def _retryable(policy: RetryPolicy) -> Callable[[BaseException], bool]:
    def retryable(error: BaseException) -> bool:
        if not isinstance(error, TransientProviderError):
            return False
        return error.retry_after is None or error.retry_after <= policy.max_retry_after_s

    return retryable


def _log_retry(provider: str, policy: RetryPolicy) -> Callable[[RetryCallState], None]:
    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: retrying (%d/%d) after: %s",
            provider,
            state.attempt_number + 1,
            policy.attempts,
            _with_root_cause(error),
        )

    return log_retry


def _with_root_cause(error: BaseException | None) -> str:
    """`error` and, for the admin reading the log, what lies under it: the SDK's "could not
    be reached" says nothing of a refused port, a failed DNS lookup or no route at all."""
    if error is None:
        return "no error"
    root, seen = error, {id(error)}
    while (inner := root.__cause__ or root.__context__) is not None and id(inner) not in seen:
        root = inner
        seen.add(id(inner))
    if root is error:
        return str(error)
    return f"{error} ({type(root).__name__}: {root})"


async def resilient_stream(
    provider: str,
    open_stream: Callable[[], AsyncIterator[ModelEvent]],
    *,
    policy: RetryPolicy,
    breaker: CircuitBreaker,
) -> AsyncIterator[ModelEvent]:
    """The events of `open_stream()`, retried and guarded as described above.

    `open_stream` raises `TransientProviderError` for what may pass and `ModelError` for
    what will not.
    """
    breaker.check(provider)
    started = False
    retryable = _retryable(policy)

    def retry_unless_shown(error: BaseException) -> bool:
        # Once the person has seen output, a failure is not retried.
        return not started and retryable(error)

    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=_wait(policy),
            retry=retry_if_exception(retry_unless_shown),
            before_sleep=_log_retry(provider, policy),
            reraise=True,
        ):
            with attempt:
                number = attempt.retry_state.attempt_number
                if number > 1:
                    yield ModelNotice(f"{provider}: retrying ({number}/{policy.attempts})…")
                async for event in open_stream():
                    started = started or isinstance(event, TextChunk | ToolCall)
                    yield event
    except TransientProviderError as error:
        breaker.failed()
        if started:
            raise ModelError(
                f"{provider} stopped mid-answer ({error}); the answer is incomplete."
            ) from error
        raise ModelError(
            f"{provider} did not answer after {policy.attempts} tries: {error}"
        ) from error
    except ModelError:
        breaker.failed()
        raise
    breaker.succeeded()
