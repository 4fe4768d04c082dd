"""Python-native models: an object with ``solve`` (a ``nextmv.Model``) pushed as an app.

The model is saved in mlflow's pyfunc format next to an entry point that loads it, reads the input
and the options as any ``nextmv`` app does, and writes what ``solve`` returns. Unlike the official
0.28.x SDK, no dependency is installed into the bundle: the manifest lists what the server installs,
namely mlflow and cloudpickle pinned to the versions that pickled the model, the installed packages
its classes come from (``nextmv``), and the configuration's own requirements. A model class from a
local module (no installed package) ships that module's code. (mlflow's own inference of both loads
the model in a subprocess: 11 s of a push, against milliseconds for this.)

mlflow is needed only here, on the pushing machine: ``pip install 'runyard[models]'``.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml

_DEFAULT_RUNTIME = "ghcr.io/nextmv-io/runtime/python:3.11"
_OPTION_TYPES = {bool: "bool", int: "int", float: "float", str: "string"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# The app's main.py. It runs in the app's environment (mlflow and nextmv installed from the manifest),
# never where Runyard is installed, so it imports nothing of Runyard.
ENTRYPOINT = '''\
"""Runs the Python-native model in this folder: written by Runyard's SDK when the model was pushed."""

import yaml
from mlflow.pyfunc import load_model

import nextmv

TYPES = {"bool": bool, "int": int, "float": float, "string": str}


def main() -> None:
    with open("app.yaml", encoding="utf-8") as f:
        manifest = yaml.safe_load(f)
    items = ((manifest.get("configuration") or {}).get("options") or {}).get("items") or []
    options = nextmv.Options(*[
        nextmv.Option(item["name"], TYPES[item.get("option_type") or item.get("type") or "string"],
                      item.get("default"), item.get("description") or "", bool(item.get("required")))
        for item in items
    ])
    model = load_model(manifest["python"]["model"]["name"], suppress_warnings=True)
    nextmv.write(model.predict(nextmv.load(options=options)))


if __name__ == "__main__":
    main()
'''


@dataclass
class ModelConfiguration:
    """How a model is pushed: the folder name of the saved model, its pip requirements, its options
    (a ``nextmv.Options``). ``nextmv.ModelConfiguration`` is accepted as well."""

    name: str
    requirements: list[str] | None = None
    options: Any = None
    runtime: str = field(default=_DEFAULT_RUNTIME)


def _mlflow() -> Any:
    try:
        import mlflow.pyfunc
    except ImportError:
        raise ImportError(
            "pushing a model needs mlflow on this machine: pip install 'runyard[models]'"
        ) from None
    return mlflow


def option_items(options: Any) -> list[dict[str, Any]]:
    """Manifest option items from a ``nextmv.Options`` (or a list of dicts already in that shape)."""
    if options is None:
        return []
    if isinstance(options, list):
        return [dict(item) for item in options]
    items = []
    for opt in getattr(options, "options", None) or []:
        kind = _OPTION_TYPES.get(getattr(opt, "option_type", str), "string")
        item = {"name": opt.name, "option_type": kind, "default": getattr(opt, "default", None),
                "description": getattr(opt, "description", None) or "",
                "required": bool(getattr(opt, "required", False))}
        items.append({k: v for k, v in item.items() if v is not None})
    return items


def _pyfunc_wrapper(model: Any, base: type) -> Any:
    """An mlflow ``PythonModel`` whose ``predict`` is ``model.solve``. The class is made here, not at
    module level, so cloudpickle stores it by value: the app's environment has no Runyard to import."""

    class SolveAsPredict(base):  # type: ignore[misc, valid-type]
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model.solve(model_input)

    return SolveAsPredict()


def _model_code(model: Any) -> tuple[list[str], list[str]]:
    """(code paths, pins) for the classes ``model`` is made of: an installed package is pinned to its
    version here, a local module ships as code; ``__main__`` and the standard library need neither."""
    packages = importlib.metadata.packages_distributions()
    code: list[str] = []
    pins: list[str] = []
    for cls in type(model).__mro__:
        top = cls.__module__.split(".")[0]
        if top in ("__main__", "builtins") or top in sys.stdlib_module_names:
            continue
        if top in packages:
            dist = packages[top][0]
            pins.append(f"{dist}=={importlib.metadata.version(dist)}")
            continue
        module = sys.modules.get(top)
        path = getattr(module, "__file__", None)
        if path:
            code.append(os.path.dirname(path) if os.path.basename(path) == "__init__.py" else path)
    return sorted(set(code)), sorted(set(pins))


def _requirements(pins: list[str], configured: list[str] | None) -> list[str]:
    """The pins of what pickled the model, then the configuration's own requirements (its line wins
    over a pin for the same package)."""
    own = [str(line).strip() for line in configured or [] if str(line).strip()]
    named = {_package_name(line) for line in own}
    return [line for line in pins if _package_name(line) not in named] + own


def _package_name(line: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else line


def save(model: Any, configuration: Any, app_dir: str, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the app for ``model`` into ``app_dir`` (the saved model, ``main.py``); returns its manifest."""
    if not callable(getattr(model, "solve", None)):
        raise TypeError("model must have a solve(input) method (a nextmv.Model)")
    name = str(getattr(configuration, "name", "") or "")
    if not _NAME_RE.match(name):
        raise ValueError(f"model_configuration.name must be a plain folder name, not {name!r}")
    mlflow = _mlflow()
    import cloudpickle

    code, pins = _model_code(model)
    pins = [f"mlflow=={mlflow.__version__}", f"cloudpickle=={cloudpickle.__version__}", *pins]
    requirements = _requirements(pins, getattr(configuration, "requirements", None))
    model_dir = os.path.join(app_dir, name)
    mlflow.pyfunc.save_model(path=model_dir, python_model=_pyfunc_wrapper(model, mlflow.pyfunc.PythonModel),
                             code_paths=code or None, pip_requirements=requirements)
    with open(os.path.join(app_dir, "main.py"), "w", encoding="utf-8") as f:
        f.write(ENTRYPOINT)
    items = option_items(getattr(configuration, "options", None))
    out = dict(manifest or {})
    out.update({"type": "python", "files": ["main.py", f"{name}/**"]})
    out.setdefault("runtime", getattr(configuration, "runtime", None) or _DEFAULT_RUNTIME)
    out["python"] = {
        "pip-requirements": requirements,
        "model": {"name": name, **({"options": items} if items else {})},
    }
    if items:
        out.setdefault("configuration", {})
        out["configuration"] = {**(out["configuration"] or {}), "options": {"strict": False, "items": items}}
    with open(os.path.join(app_dir, "app.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(out, f, sort_keys=False)
    return out
