"""Every HTTP call of the official 1.13.0 SDK's ``nextmv.cloud`` reaches a Runyard route.

The calls are read from the installed wheel's source (``client.request(method=…, endpoint=…)`` and
the paginated variants), their paths rendered with placeholder ids, and matched against the routes
of ``create_app``. A call with no route would be a bare 404 for its user. Served and deliberately
refused (501) calls both count as answered; organizations, the marketplace and community apps are
served, not refused.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Match

from runyard.server.api import unavailable
from runyard.server.app import create_app
from runyard.settings import Settings

from .harness import Venv

pytestmark = pytest.mark.compat

APPLICATION = "v1/applications/{id}"


def _defaults(cls: ast.ClassDef) -> dict[str, str]:
    """``*_endpoint: str = Field(default="…")`` attributes of a class."""
    found = {}
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(node.value, ast.Call):
            for kw in node.value.keywords:
                if kw.arg == "default" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    found[node.target.id] = kw.value.value
    return found


def _render(expr: ast.expr, attrs: dict[str, str]) -> str | None:
    """The path of an endpoint expression with every id as ``x``; None for URLs handed out by the server."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
        return attrs[expr.attr].replace("{base}", attrs.get("endpoint", APPLICATION))
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        left, right = _render(expr.left, attrs), _render(expr.right, attrs)
        return None if left is None or right is None else left + right
    if isinstance(expr, ast.JoinedStr):
        parts = []
        for value in expr.values:
            if isinstance(value, ast.Constant):
                parts.append(value.value)
            else:
                inner = _render(value.value, attrs) if isinstance(value.value, ast.Attribute) else None
                parts.append(inner if inner is not None else "x")
        return "".join(parts)
    return None  # a variable: a signed upload/download URL, or a path chosen just above (listed below)


def sdk_calls(package: Path) -> Iterator[tuple[str, str, str | None]]:
    """(where, method, path or None) of every call in ``nextmv/cloud``."""
    app_attrs = {}
    app_init = ast.parse((package / "application" / "__init__.py").read_text())
    for node in ast.walk(app_init):
        if isinstance(node, ast.ClassDef) and node.name == "Application":
            app_attrs = _defaults(node)
    for path in sorted(package.rglob("*.py")):
        if path.name == "client.py":
            continue
        tree = ast.parse(path.read_text())
        for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)] + [tree]:
            attrs = _defaults(cls) if isinstance(cls, ast.ClassDef) else {}
            if "application" in path.parts or not attrs:
                attrs = {**app_attrs, **attrs}
            body = cls.body
            for fn in [n for n in body if isinstance(n, ast.FunctionDef)]:
                for call in [n for n in ast.walk(fn) if isinstance(n, ast.Call)]:
                    kws = {k.arg: k.value for k in call.keywords}
                    if "method" in kws and "endpoint" in kws and isinstance(kws["method"], ast.Constant):
                        rendered = _render(kws["endpoint"], attrs)
                        rendered = rendered.format(id="x") if rendered and "{id}" in rendered else rendered
                        yield f"{path.relative_to(package)}:{fn.name}", kws["method"].value, rendered


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> list:
    data = tmp_path_factory.mktemp("routes")
    app = create_app(Settings(data_dir=data, database_url=f"sqlite:///{data / 'r.db'}", api_key="k" * 40,
                              executor="stub"))
    return list(app.routes)


def test_every_official_cloud_call_has_a_route(sdk113_venv: Venv, routes: list) -> None:
    calls = list(sdk_calls(sdk113_venv.site_packages() / "nextmv" / "cloud"))
    assert len(calls) > 100, calls  # the reader still understands the SDK's source
    unanswered, dynamic, refused = [], [], []
    for where, method, path in calls:
        if path is None:
            dynamic.append(where)
            continue
        scope = {"type": "http", "method": method, "path": "/" + path.lstrip("/")}
        if not any(route.matches(scope)[0] == Match.FULL for route in routes):
            unanswered.append(f"{method} {path} ({where})")
        elif scope["path"].startswith(tuple(unavailable.AREAS)):
            refused.append(where.split(":")[0])
    assert unanswered == []
    assert set(refused) == {"integration.py", "sso.py"}, refused
    # The calls whose URL comes from a previous answer (signed URLs, the marketplace's list path).
    assert {w.split(":")[0] for w in dynamic} <= {"application/__init__.py", "application/_run.py",
                                                  "community.py", "marketplace.py"}, dynamic
