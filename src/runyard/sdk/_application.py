"""``Application``: an app's lifecycle (create, push, versions, instances) plus runs and experiments."""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any

from runyard.sdk import _native_model, _package
from runyard.sdk._app_experiments import ExperimentsMixin, _put_optional
from runyard.sdk._app_online import OnlineMixin
from runyard.sdk._app_runs import RunsMixin
from runyard.sdk._client import BlockReader, Client
from runyard.sdk._models_app import ApplicationInformation, Instance, InstanceConfiguration, Version
from runyard.sdk._pagination import iter_pages
from runyard.sdk.errors import NotFoundError


@dataclass
class Application(RunsMixin, ExperimentsMixin, OnlineMixin):
    """An application on the platform; runs default to the ``devint`` instance as in the Nextmv SDK."""

    client: Client
    id: str
    default_instance_id: str = "devint"
    endpoint: str = "v1/applications/{id}"
    experiments_endpoint: str = "{base}/experiments"

    def __post_init__(self) -> None:
        self.endpoint = self.endpoint.format(id=self.id)
        self.experiments_endpoint = self.experiments_endpoint.format(base=self.endpoint)

    # --- the application ------------------------------------------------------------------------

    @classmethod
    def new(cls, client: Client, name: str, id: str | None = None, description: str | None = None,
            is_workflow: bool | None = None, exist_ok: bool = False) -> Application:
        """Create an application (or, with ``exist_ok``, return the existing one with this id)."""
        if exist_ok and id is not None and cls.exists(client=client, id=id):
            return cls(client=client, id=id)
        payload = _put_optional({"name": name}, description=description, id=id, is_pipeline=is_workflow)
        response = client.request("POST", "v1/applications", payload=payload)
        return cls(client=client, id=response.json()["id"])

    @staticmethod
    def exists(client: Client, id: str) -> bool:
        """Whether an application with this id exists."""
        try:
            client.request("GET", f"v1/applications/{id}")
        except NotFoundError:
            return False
        return True

    def information(self) -> ApplicationInformation:
        """The application's name, description and defaults (a Runyard addition)."""
        return ApplicationInformation.from_dict(self.client.request("GET", self.endpoint).json())

    def delete(self) -> None:
        """Delete the application with its versions, instances and runs."""
        self.client.request("DELETE", self.endpoint)

    def push(self, manifest: Any = None, app_dir: str | None = None, verbose: bool = False,
             model: Any = None, model_configuration: Any = None) -> None:
        """Package ``app_dir`` per its ``app.yaml`` and make it the application's executable; or, given
        ``model`` (a ``nextmv.Model``) and ``model_configuration``, push the model itself (needs mlflow:
        ``runyard[models]``)."""
        if (model is None) != (model_configuration is None):
            raise ValueError("model and model_configuration must be provided together")
        if model is not None:
            with tempfile.TemporaryDirectory(prefix="runyard-model-") as tmp:
                base = manifest.to_dict() if hasattr(manifest, "to_dict") else dict(manifest or {})
                self._push_dir(tmp, _native_model.save(model, model_configuration, tmp, base), verbose)
            return
        app_dir = app_dir or "."
        if manifest is None:
            manifest_dict = _package.read_manifest(app_dir)
        else:
            manifest_dict = manifest.to_dict() if hasattr(manifest, "to_dict") else dict(manifest)
        self._push_dir(app_dir, manifest_dict, verbose)

    def _push_dir(self, app_dir: str, manifest_dict: dict[str, Any], verbose: bool) -> None:
        with _PushProgress(verbose) as progress:
            progress.say(f"Packaging application from {os.path.abspath(app_dir)}")
            _package.run_hooks(app_dir, manifest_dict, progress.say)
            bundle = _package.package(app_dir, manifest_dict, on_file=progress.file_added)
            try:
                progress.say(f"Packaged {len(bundle.files)} files ({os.path.getsize(bundle.path)} bytes)")
                self._upload_bundle(bundle, progress)
            finally:
                os.remove(bundle.path)
            progress.say(f'Pushed to application "{self.id}" at {self.client.url}')

    def _upload_bundle(self, bundle: _package.Bundle, progress: _PushProgress) -> None:
        binary = f"{self.endpoint}/binary"
        upload_url = self.client.request("GET", binary).json()["upload_url"]
        size = os.path.getsize(bundle.path)
        with open(bundle.path, "rb") as f:
            body = BlockReader(progress.reader(f, size))  # 1 MiB pieces, not httpx's 64 KiB
            self.client.request("PUT", upload_url, data=body, headers={
                "Content-Type": "application/octet-stream", "Content-Length": str(size)})
        self.client.request("PUT", binary, payload={"requirements": bundle.requirements})

    # --- versions -------------------------------------------------------------------------------

    def new_version(self, id: str | None = None, name: str | None = None, description: str | None = None,
                    exist_ok: bool = False) -> Version:
        """Snapshot the current executable as a version."""
        if exist_ok and id is None:
            raise ValueError("If exist_ok is True, id must be provided")
        if exist_ok and self.version_exists(version_id=id):  # type: ignore[arg-type]
            return self.version(version_id=id)  # type: ignore[arg-type]
        payload = _put_optional({}, id=id, name=name, description=description)
        response = self.client.request("POST", f"{self.endpoint}/versions", payload=payload)
        return Version.from_dict(response.json())

    def version(self, version_id: str) -> Version:
        """A version."""
        return Version.from_dict(self.client.request("GET", f"{self.endpoint}/versions/{version_id}").json())

    def version_exists(self, version_id: str) -> bool:
        """Whether a version exists."""
        try:
            self.version(version_id=version_id)
        except NotFoundError:
            return False
        return True

    def list_versions(self) -> list[Version]:
        """The application's versions."""
        return [Version.from_dict(v) for v in self.client.request("GET", f"{self.endpoint}/versions").json()]

    # --- instances ------------------------------------------------------------------------------

    def new_instance(self, version_id: str, id: str, name: str, description: str | None = None,
                     configuration: InstanceConfiguration | None = None, exist_ok: bool = False) -> Instance:
        """Create an instance pointing at a version."""
        if exist_ok and id is None:
            raise ValueError("If exist_ok is True, id must be provided")
        if exist_ok and self.instance_exists(instance_id=id):
            return self.instance(instance_id=id)
        payload = _put_optional({"version_id": version_id}, id=id, name=name, description=description,
                                configuration=configuration.to_dict() if configuration is not None else None)
        response = self.client.request("POST", f"{self.endpoint}/instances", payload=payload)
        return Instance.from_dict(response.json())

    def instance(self, instance_id: str) -> Instance:
        """An instance."""
        return Instance.from_dict(self.client.request("GET", f"{self.endpoint}/instances/{instance_id}").json())

    def instance_exists(self, instance_id: str) -> bool:
        """Whether an instance exists."""
        try:
            self.instance(instance_id=instance_id)
        except NotFoundError:
            return False
        return True

    def list_instances(self) -> list[Instance]:
        """The application's instances."""
        return [Instance.from_dict(i) for i in self.client.request("GET", f"{self.endpoint}/instances").json()]

    def update_instance(self, id: str, name: str, version_id: str | None = None, description: str | None = None,
                        configuration: InstanceConfiguration | None = None) -> Instance:
        """Change an instance (only the fields given are sent)."""
        payload = _put_optional({}, version_id=version_id, name=name, description=description,
                                configuration=configuration.to_dict() if configuration is not None else None)
        response = self.client.request("PUT", f"{self.endpoint}/instances/{id}", payload=payload)
        return Instance.from_dict(response.json())

    def delete_instance(self, instance_id: str) -> None:
        """Delete an instance."""
        self.client.request("DELETE", f"{self.endpoint}/instances/{instance_id}")


def list_applications(client: Client) -> list[ApplicationInformation]:
    """Every application of the account, all pages read (as ``nextmv.cloud.list_applications`` of
    1.x, but returning :class:`ApplicationInformation` rather than ``Application`` objects)."""
    return [ApplicationInformation.from_dict(a) for a in iter_pages(client, "v1/applications", "items")]


class _PushProgress:
    """Push feedback: nothing unless ``verbose``; then lines on stderr and rich progress bars."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self._stack = ExitStack()
        self._progress: Any = None
        self._files_task: Any = None

    def __enter__(self) -> _PushProgress:
        if self.verbose:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

            self._console = Console(stderr=True)
            self._progress = self._stack.enter_context(Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=self._console))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def say(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, highlight=False)

    def file_added(self, name: str) -> None:
        if self._progress is None:
            return
        if self._files_task is None:
            self._files_task = self._progress.add_task("packaging", total=None)
        self._progress.advance(self._files_task)

    def reader(self, f: IO[bytes], size: int) -> IO[bytes] | _ProgressReader:
        if self._progress is None:
            return f
        return _ProgressReader(f, self._progress, self._progress.add_task("uploading", total=size))


class _ProgressReader:
    """A file wrapper that advances a progress bar as httpx streams it."""

    def __init__(self, f: IO[bytes], progress: Any, task: Any) -> None:
        self._f, self._progress, self._task = f, progress, task

    def read(self, n: int = -1) -> bytes:
        chunk = self._f.read(n)
        self._progress.advance(self._task, len(chunk))
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0 and offset == 0:
            self._progress.reset(self._task)
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def __iter__(self) -> Any:
        while chunk := self.read(64 * 1024):
            yield chunk
