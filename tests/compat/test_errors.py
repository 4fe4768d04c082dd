"""Bad input gets a clear 4xx: unknown resources, malformed bodies, missing keys, other accounts, hostile bundles."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pytest

from .harness import app_files, make_bundle, unique

pytestmark = pytest.mark.compat


@pytest.fixture
def app_id(server) -> str:
    return server.create_app()


@pytest.mark.parametrize(
    "path",
    [
        "v1/applications/{missing}",
        "v1/applications/{app}/versions/{missing}",
        "v1/applications/{app}/instances/{missing}",
        "v1/applications/{app}/runs/{missing}",
        "v1/applications/{app}/runs/{missing}/metadata",
        "v1/applications/{app}/runs/{missing}/logs",
        "v1/applications/{app}/runs/{missing}/input",
    ],
)
def test_unknown_resources_are_404(server, app_id, path):
    response = server.api("GET", path.format(app=app_id, missing=unique("missing")))
    assert response.status_code == 404, response.text


def test_sdk_sees_missing_resources_as_404(sdk, server):
    app_id = server.create_app()
    out = sdk.run(
        """
        app = Application(client=client, id=os.environ["APP_ID"])
        try:
            app.run_metadata("run-missing0")
            run_status = 200
        except Exception as exc:
            run_status = http_status(exc)
        emit({
            "app": Application.exists(client=client, id="app-missing0"),
            "version": app.version_exists("version-missing0"),
            "instance": app.instance_exists("instance-missing0"),
            "run_status": run_status,
        })
        """,
        env={"APP_ID": app_id},
    )
    assert out == {"app": False, "version": False, "instance": False, "run_status": 404}


@pytest.mark.parametrize(
    "path", ["v1/applications", "v1/applications/{app}/runs", "v1/applications/{app}/versions"]
)
def test_malformed_json_is_rejected_and_named(server, app_id, path):
    response = server.api(
        "POST", path.format(app=app_id), data=b'{"name": "x",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    assert "json" in response.text.lower(), response.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("v1/applications", {"name": 5}, "name"),
        ("v1/applications/{app}/runs", {"input": {"x": 1}, "options": "x"}, "options"),
        ("v1/applications/{app}/versions", {"id": "v", "name": ["not", "a", "string"]}, "name"),
    ],
)
def test_wrong_types_are_rejected_naming_the_field(server, app_id, path, body, field):
    response = server.api("POST", path.format(app=app_id), json=body)
    assert response.status_code in (400, 422), response.text
    assert field in response.text, response.text


@pytest.mark.parametrize("key", [None, "not-a-key", ""], ids=["no-key", "wrong-key", "empty-key"])
def test_requests_without_a_valid_key_are_401(server, app_id, key):
    for method, path in [("GET", "v1/applications"), ("GET", f"v1/applications/{app_id}")]:
        response = server.api(method, path, key=key)
        assert response.status_code == 401, (method, path, response.status_code, response.text)


def test_healthz_needs_no_key(server):
    assert server.api("GET", "healthz", key=None).status_code == 200


def test_other_accounts_resources_are_404(server, app_id):
    other = server.create_account_key()
    for method, path in [
        ("GET", f"v1/applications/{app_id}"),
        ("GET", f"v1/applications/{app_id}/versions"),
        ("GET", f"v1/applications/{app_id}/instances"),
        ("GET", f"v1/applications/{app_id}/binary"),
        ("POST", f"v1/applications/{app_id}/runs"),
        ("DELETE", f"v1/applications/{app_id}"),
    ]:
        response = server.api(method, path, key=other, json={"input": {}} if method == "POST" else None)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
    listed = server.api("GET", "v1/applications", key=other)
    assert listed.status_code == 200 and app_id not in {a["id"] for a in listed.json()}
    # The owner still sees it, undamaged.
    assert server.api("GET", f"v1/applications/{app_id}").status_code == 200


def test_other_account_through_the_sdk(sdk, server):
    app_id = server.create_app()
    out = sdk.run(
        """emit({"exists": Application.exists(client=client, id=os.environ["APP_ID"])})""",
        env={"APP_ID": app_id, "RY_KEY": server.create_account_key()},
    )
    assert out == {"exists": False}


HOSTILE_KINDS = ["dotdot", "nested-dotdot", "absolute", "symlink-absolute", "symlink-dotdot"]


def hostile_bundle(kind: str, marker: str, tmp_path: Path) -> tuple[bytes, Path | None]:
    """The echo-json app plus one member escaping the bundle root; also the absolute path it aims at, if any."""
    files, links, target = app_files("echo-json"), {}, None
    if kind == "dotdot":
        files[f"../{marker}"] = b"pwned\n"
    elif kind == "nested-dotdot":
        files[f"sub/../../{marker}"] = b"pwned\n"
    elif kind == "absolute":
        target = tmp_path / marker
        files[str(target)] = b"pwned\n"
    elif kind == "symlink-absolute":
        links[marker] = "/etc/passwd"
    else:
        links[marker] = "../../../../etc/passwd"
    return make_bundle(files, links), target


@pytest.mark.parametrize("kind", HOSTILE_KINDS)
def test_bundle_escaping_its_root_is_rejected(server, app_id, kind, tmp_path):
    marker = f"evil-{uuid.uuid4().hex[:8]}"
    bundle, target = hostile_bundle(kind, marker, tmp_path)
    upload = server.upload_bundle(app_id, bundle)
    if upload.status_code == 400:
        rejection = upload  # refusing it already at upload time is just as good
    else:
        assert upload.status_code in (200, 201, 204), upload.text
        rejection = server.activate_bundle(app_id)
    assert rejection.status_code == 400, rejection.text
    assert rejection.text.strip(), "the 400 must say why"

    system_tmp = Path(tempfile.gettempdir())
    escaped = [
        *server.base_dir.parent.rglob(marker),  # the data dir's parent, which also holds the server's TMPDIR
        *system_tmp.glob(marker),
        *system_tmp.glob(f"*/{marker}"),
        *([target] if target is not None and target.exists() else []),
    ]
    assert not escaped, f"bundle member written outside its root: {escaped}"

    # Nothing is lost: the app still takes a clean bundle afterwards.
    assert server.upload_bundle(app_id, make_bundle(app_files("echo-json"))).status_code in (200, 201, 204)
    assert server.activate_bundle(app_id).status_code in (200, 201, 204)
