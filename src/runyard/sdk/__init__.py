"""The Runyard client SDK. Import the public surface from :mod:`runyard.cloud` (``from runyard import
cloud``); errors live in :mod:`runyard.sdk.errors` and the async client in :mod:`runyard.sdk.aio`.

This package never imports the server: it needs only httpx, pydantic, pyyaml and rich.
"""
