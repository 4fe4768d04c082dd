"""The ``app.yaml`` manifest: parsed leniently (unknown keys ignored), normalized with defaults."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from runyard.domain.errors import Invalid

ContentFormat = Literal["json", "multi-file", "text", "csv-archive"]
_ENTRYPOINTS = {"python": "main.py", "go": "main", "binary": "main", "java": "main.jar"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class PythonModel(_Model):
    """A Python-native model (``nextmv.Model`` pushed by the 0.28.x SDK): the folder of its mlflow pyfunc
    model and the options it was saved with. Its entry point reads this back from ``app.yaml``."""

    name: str
    options: list[dict[str, Any]] | None = None


class PythonSettings(_Model):
    pip_requirements: str | list[str] | None = Field(None, alias="pip-requirements")
    version: str | None = None
    arch: str | None = None
    model: PythonModel | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_str(cls, value: Any) -> Any:
        return None if value is None else str(value)


class MultiFileOutput(_Model):
    solutions: str = "outputs/solutions"
    metrics: str = "outputs/metrics.json"
    assets: str = "outputs/assets.json"
    statistics: str = ""


class MultiFileInput(_Model):
    path: str = "inputs"


class MultiFile(_Model):
    input: MultiFileInput = Field(default_factory=MultiFileInput)
    output: MultiFileOutput = Field(default_factory=MultiFileOutput)


class Content(_Model):
    format: ContentFormat = "json"
    multi_file: MultiFile | None = Field(None, alias="multi-file")

    @model_validator(mode="after")
    def _multi_file_defaults(self) -> Content:
        if self.format == "multi-file" and self.multi_file is None:
            self.multi_file = MultiFile()
        return self


class OptionItem(_Model):
    name: str
    option_type: Literal["string", "bool", "int", "float"] = Field("string", alias="type")
    default: Any = None
    description: str = ""
    required: bool = False
    local_only: bool = False
    additional_attributes: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _accept_both_type_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "option_type" in data and "type" not in data:
            data = {**data, "type": data["option_type"]}
        return data


class OptionsValidation(_Model):
    enforce: Literal["none", "all"] = "none"


class Options(_Model):
    strict: bool = False
    validation: OptionsValidation | None = None
    format: list[str] | None = None
    items: list[OptionItem] = Field(default_factory=list)

    @field_validator("format", mode="before")
    @classmethod
    def _template(cls, value: Any) -> Any:
        # The push payload wraps the template as {"template": [...]}; the manifest writes the bare list.
        if isinstance(value, dict):
            return value.get("template")
        return value


class Configuration(_Model):
    content: Content = Field(default_factory=Content)
    options: Options | None = None


class Execution(_Model):
    entrypoint: str | None = None
    cwd: str | None = None


class RunyardSettings(_Model):
    """Runyard's own keys in ``app.yaml`` (under ``runyard:``; Nextmv Cloud ignores them)."""

    network: bool = True  # false: the app's runs get no network, whatever their execution class allows


class Manifest(_Model):
    type: Literal["python", "go", "java", "binary"] = "python"
    runtime: str = "ghcr.io/nextmv-io/runtime/python:3.11"
    files: list[str] = Field(default_factory=list)
    python: PythonSettings | None = None
    configuration: Configuration = Field(default_factory=Configuration)
    execution: Execution | None = None
    runyard: RunyardSettings | None = None

    @field_validator("configuration", mode="before")
    @classmethod
    def _configuration_default(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def content_format(self) -> str:
        return self.configuration.content.format

    @property
    def entrypoint(self) -> str:
        if self.execution and self.execution.entrypoint:
            return self.execution.entrypoint.removeprefix("./")
        return _ENTRYPOINTS[self.type]

    @property
    def working_directory(self) -> str:
        return (self.execution.cwd if self.execution and self.execution.cwd else ".").strip() or "."

    @property
    def option_items(self) -> list[OptionItem]:
        options = self.configuration.options
        return [] if options is None else [item for item in options.items if not item.local_only]

    @property
    def multi_file(self) -> MultiFile:
        return self.configuration.content.multi_file or MultiFile()


def manifest_paths(manifest: Manifest) -> list[tuple[str, str]]:
    """(field, path) of every path in ``manifest`` that names something inside the app, each field
    named as in ``app.yaml`` and, in brackets, as in a push's ``requirements``."""
    found = [("execution.entrypoint (entrypoint)", manifest.entrypoint),
             ("execution.cwd (working_directory)", manifest.working_directory)]
    if manifest.content_format == "multi-file":
        mf = manifest.multi_file
        found.append(("configuration.content.multi-file.input.path (multi_file.input_path)", mf.input.path))
        for key in ("solutions", "metrics", "assets", "statistics"):
            value = getattr(mf.output, key)
            if value:
                found.append((f"configuration.content.multi-file.output.{key} "
                              f"(multi_file.output_configuration.{key}_path)", value))
    return found


def parse_manifest(data: Any) -> Manifest:
    """A manifest from the loaded YAML document; ``Invalid`` naming the bad field otherwise."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise Invalid("app.yaml must be a mapping")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "app.yaml"
        raise Invalid(f"app.yaml: {where}: {first['msg']}") from None


def manifest_from_requirements(requirements: dict[str, Any]) -> dict[str, Any]:
    """Manifest fields carried by a push activation payload (``requirements``), as a manifest dict."""
    out: dict[str, Any] = {}
    if requirements.get("executable_type"):
        out["type"] = requirements["executable_type"]
    if requirements.get("runtime"):
        out["runtime"] = requirements["runtime"]
    io = requirements.get("io_configuration") or {}
    if io.get("format"):
        content: dict[str, Any] = {"format": io["format"]}
        mf = io.get("multi_file")
        if mf:
            oc = mf.get("output_configuration") or {}
            content["multi-file"] = {
                "input": {"path": mf.get("input_path") or "inputs"},
                "output": {
                    k: v
                    for k, v in {
                        "solutions": oc.get("solutions_path"),
                        "metrics": oc.get("metrics_path"),
                        "assets": oc.get("assets_path"),
                        "statistics": oc.get("statistics_path"),
                    }.items()
                    if v
                },
            }
        out.setdefault("configuration", {})["content"] = content
    if requirements.get("options"):
        out.setdefault("configuration", {})["options"] = requirements["options"]
    execution = {k: requirements[src] for k, src in (("entrypoint", "entrypoint"), ("cwd", "working_directory")) if requirements.get(src)}
    if execution:
        out["execution"] = execution
    return out


ARCHIVE_OUTPUTS = ("csv-archive", "multi-file")


def with_output_format(manifest: Manifest, requested: str) -> Manifest:
    """The manifest a run's output is collected by: a run that asks for an archive output (csv-archive,
    multi-file) of an app whose manifest says json or text gets its output files collected as asked,
    instead of losing them."""
    if requested not in ARCHIVE_OUTPUTS or manifest.content_format in ARCHIVE_OUTPUTS:
        return manifest
    configuration = manifest.configuration.model_copy(update={"content": Content(format=requested)})
    return manifest.model_copy(update={"configuration": configuration})
