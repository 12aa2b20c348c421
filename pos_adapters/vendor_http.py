"""HTTP to a vendor's API, as every adapter needs it: timeouts, `429` answered after its
`Retry-After`, 5xx and network errors retried with exponential backoff, then a clear error."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests


class VendorError(Exception):
    """The vendor could not be reached or kept failing; the run ends with this message."""


class VendorAuthError(VendorError):
    """The vendor refused our credentials (never retried)."""


RETRYABLE = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 120.0  # seconds: a longer wait ends the run; the next one resumes


@dataclass
class VendorHttp:
    """A `requests` session with the retry policy. `sleep` and `backoff` are settable so a
    test against a local fake server need not wait."""

    attempts: int = 5
    backoff: float = 0.5  # seconds before the second attempt; doubled each time, with jitter
    timeout: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> requests.Response:
        """The response of the first attempt that is neither a 429, a 5xx nor a network
        error. A 401 or 403 raises VendorAuthError; running out of attempts, VendorError."""
        last = ""
        for attempt in range(self.attempts):
            try:
                response = self.session.request(
                    method, url, headers=headers, params=params, json=json, timeout=self.timeout
                )
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {exc}"
                self._wait(attempt, None)
                continue
            if response.status_code in (401, 403):
                raise VendorAuthError(
                    f"{response.status_code} from {_where(url)}: {_excerpt(response)}"
                )
            if response.status_code not in RETRYABLE:
                return response
            last = f"{response.status_code} from {_where(url)}: {_excerpt(response)}"
            if attempt + 1 < self.attempts:
                self._wait(attempt, response.headers.get("Retry-After"))
        raise VendorError(f"gave up after {self.attempts} attempts; last: {last}")

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = _seconds(retry_after)
        if delay is None:
            delay = self.backoff * (2**attempt) * (0.5 + random.random() / 2)
        if delay > MAX_RETRY_AFTER:
            raise VendorError(f"the vendor asked to wait {delay:.0f} s; the next run resumes")
        self.sleep(delay)


def _seconds(retry_after: str | None) -> float | None:
    """`Retry-After` as seconds (Shopify sends "2.0"); an HTTP date or junk is ignored."""
    if not retry_after:
        return None
    try:
        return max(float(retry_after), 0.0)
    except ValueError:
        return None


def _where(url: str) -> str:
    return url.split("?", 1)[0]


def _excerpt(response: requests.Response) -> str:
    return " ".join(response.text.split())[:200]


def error_of(response: requests.Response) -> VendorError:
    """An unexpected non-2xx answer as a VendorError naming the status and the body's start."""
    return VendorError(f"{response.status_code} from {_where(response.url)}: {_excerpt(response)}")
