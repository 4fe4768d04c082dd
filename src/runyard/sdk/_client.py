"""``Client``: credentials, base URL and the transport for every call the SDK makes."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import IO, Any

import httpx
import yaml

from runyard.sdk._base_client import RetryPolicy, dumps_compact, policy_from, prepare, send_sync

DEFAULT_URL = "https://api.cloud.nextmv.io"
DEFAULT_CONSOLE_URL = "https://cloud.nextmv.io"
API_KEY_ENV = ("NEXTMV_API_KEY", "RUNYARD_API_KEY")
ENDPOINT_ENV = ("RUNYARD_ENDPOINT", "NEXTMV_ENDPOINT")


def _first_env(names: tuple[str, ...]) -> str | None:
    for name in names:
        value = os.getenv(name)
        if value:
            return value
    return None


def _with_scheme(url: str) -> str:
    return url if url.startswith(("http://", "https://")) else f"https://{url}"


def resolve_credentials(api_key: str | None, url: str, configuration_file: str) -> tuple[str, str]:
    """``(api_key, url)``: argument, then environment, then the Nextmv CLI's config file."""
    if api_key == "":
        raise ValueError("api_key cannot be empty")
    if url == DEFAULT_URL:
        url = _first_env(ENDPOINT_ENV) or url
    url = _with_scheme(url)
    if api_key:
        return api_key, url
    from_env = _first_env(API_KEY_ENV)
    if from_env:
        return from_env, url
    path = os.path.expanduser(configuration_file)
    if not os.path.exists(path):
        raise ValueError(
            f"no API key set in constructor or {'/'.join(API_KEY_ENV)} env var, and {configuration_file} does not exist"
        )
    with open(path) as f:
        config = yaml.safe_load(f) or {}
    profile = os.getenv("NEXTMV_PROFILE")
    parent = config
    if profile is not None:
        parent = config.get(profile)
        if parent is None:
            raise ValueError(f"profile {profile} set via NEXTMV_PROFILE but not found in {configuration_file}")
    key = parent.get("apikey")
    if key is None:
        raise ValueError(f"no apiKey found in {configuration_file}")
    endpoint = parent.get("endpoint")
    if endpoint is not None:
        url = _with_scheme(str(endpoint))
    return key, url


@dataclass
class ClientSettings:
    """The settings both clients share (names and defaults of the documented ``Client``)."""

    api_key: str | None = None
    allowed_methods: list[str] = field(default_factory=lambda: ["GET", "POST", "PUT", "DELETE"])
    backoff_factor: float = 1
    backoff_jitter: float = 0.1
    backoff_max: float = 60
    configuration_file: str = "~/.nextmv/config.yaml"
    headers: dict[str, str] | None = None
    max_retries: int = 10
    status_forcelist: list[int] = field(default_factory=lambda: [429, 503])
    timeout: float = 20
    url: str = DEFAULT_URL
    console_url: str = DEFAULT_CONSOLE_URL

    def __post_init__(self) -> None:
        self.api_key, self.url = resolve_credentials(self.api_key, self.url, self.configuration_file)
        if self.console_url == DEFAULT_CONSOLE_URL and self.url.rstrip("/") != DEFAULT_URL:
            self.console_url = self.url.rstrip("/")


@dataclass
class Client(ClientSettings):
    """Talks to a Runyard (or Nextmv Cloud) API.

    The API key comes from ``api_key``, else ``NEXTMV_API_KEY`` / ``RUNYARD_API_KEY``, else
    ``~/.nextmv/config.yaml``. When ``url`` is left at its default, ``RUNYARD_ENDPOINT`` /
    ``NEXTMV_ENDPOINT`` choose the server. Retries (429/503 and network failures, honouring
    ``Retry-After``) apply to every scheme; POSTs carry an ``Idempotency-Key`` reused by retries.
    """

    transport: httpx.BaseTransport | None = field(default=None, repr=False)
    """Injectable httpx transport (tests, proxies); the default is a pooled HTTP transport."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set_headers_api_key(self.api_key)
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()
        self.event_streams = True  # until the server shows it has none (then ``*_with_result`` long-polls only)

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy built from this client's fields."""
        return policy_from(max_retries=self.max_retries, backoff_factor=self.backoff_factor,
                           backoff_jitter=self.backoff_jitter, backoff_max=self.backoff_max,
                           status_forcelist=self.status_forcelist, allowed_methods=self.allowed_methods)

    @property
    def http(self) -> httpx.Client:
        """The pooled httpx client (made on first use; connections are reused across calls)."""
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(transport=self.transport, timeout=self.timeout, follow_redirects=True)
            return self._http

    def close(self) -> None:
        """Close pooled connections; the client reopens them if used again."""
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        endpoint: str,
        data: Any | None = None,
        headers: dict[str, str] | None = None,
        payload: dict[str, Any] | list[Any] | None = None,
        query_params: dict[str, Any] | None = None,
        json_configurations: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> httpx.Response:
        """One API call; raises a :mod:`runyard.sdk.errors` class for a 4xx/5xx answer."""
        prepared = prepare(
            base_url=self.url, method=method, endpoint=endpoint, default_headers=self.headers or {},
            headers=headers, payload=payload, data=data, query_params=query_params,
            json_configurations=json_configurations, timeout=timeout if timeout is not None else self.timeout,
        )
        return send_sync(self.http, prepared, self.retry_policy)

    def upload_to_presigned_url(self, data: dict[str, Any] | str | bytes | IO[bytes], url: str,
                                json_configurations: dict[str, Any] | None = None) -> None:
        """PUT ``data`` to a presigned URL (no API key is sent there)."""
        if isinstance(data, dict):
            data = dumps_compact(data, json_configurations)
        elif not isinstance(data, str | bytes) and not hasattr(data, "read"):
            raise ValueError("data must be a dictionary or a string")
        if hasattr(data, "read"):
            # httpx reads a file 64 KiB at a time; 1 MiB blocks, with the file's Content-Length (not
            # chunked), cost both ends far less per byte. Still seekable, so a retry resends it.
            data = BlockReader(data)
        # ``headers={}`` replaces the defaults: the URL itself is the credential.
        self.request("PUT", url, data=data, headers={})

    def _set_headers_api_key(self, api_key: str) -> None:
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}


class BlockReader:
    """A file body that httpx sends in ``BLOCK``-byte pieces, from its start, with its length known."""

    BLOCK = 1024 * 1024

    def __init__(self, f: IO[bytes] | Any) -> None:
        self._f = f

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def __iter__(self) -> Any:
        while chunk := self._f.read(self.BLOCK):
            yield chunk


def get_size(obj: dict[str, Any] | IO[bytes] | str, json_configurations: dict[str, Any] | None = None) -> int:
    """Size in bytes of a dict (as compact JSON), a file object or a string."""
    if isinstance(obj, dict):
        return len(dumps_compact(obj, json_configurations).encode("utf-8"))
    if hasattr(obj, "read"):
        obj.seek(0, 2)
        size = obj.tell()
        obj.seek(0)
        return size
    if isinstance(obj, str):
        return len(obj.encode("utf-8"))
    raise TypeError("Unsupported type. Only dictionaries, file objects (IO[bytes]), and strings are supported.")
