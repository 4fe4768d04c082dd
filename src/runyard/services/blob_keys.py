"""Where every blob lives: the one place that spells out blob keys and prefixes.

Everything of a run is under ``runs/<run id>/`` and everything of an application under
``apps/<app pk>/``, so deleting one is deleting a prefix.
"""

from __future__ import annotations


def run_prefix(run_id: str) -> str:
    """Everything stored for one run (input, output, log, assets)."""
    return f"runs/{run_id}/"


def input_key(run_id: str) -> str:
    return f"runs/{run_id}/input"


def output_key(run_id: str) -> str:
    return f"runs/{run_id}/output"


def log_key(run_id: str) -> str:
    return f"runs/{run_id}/log"


def flow_key(run_id: str) -> str:
    """A decision workflow's flow graph, as its runner (nextpipe) reports it."""
    return f"runs/{run_id}/flow.json"


def assets_key(run_id: str) -> str:
    """The index of a run's assets."""
    return f"runs/{run_id}/assets.json"


def assets_prefix(run_id: str) -> str:
    """Where each asset's content goes, the asset's id appended."""
    return f"runs/{run_id}/assets/"


def asset_content_key(run_id: str, asset_id: str) -> str:
    return f"{assets_prefix(run_id)}{asset_id}"


def upload_key(upload_id: str) -> str:
    return f"uploads/{upload_id}"


def app_prefix(app_pk: int) -> str:
    """Everything stored for one application (bundles, managed inputs)."""
    return f"apps/{app_pk}/"


def bundle_key(app_pk: int, bundle_id: str) -> str:
    return f"apps/{app_pk}/bundles/{bundle_id}.tar.gz"


def managed_inputs_prefix(app_pk: int) -> str:
    return f"apps/{app_pk}/inputs/"
