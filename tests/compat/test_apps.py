"""Applications, pushes, versions and instances through both official SDK generations."""

from __future__ import annotations

import pytest

from .harness import unique

pytestmark = pytest.mark.compat


def test_application_version_instance_lifecycle(sdk, app_dir):
    app_id = unique("app")
    out = sdk.run(
        """
        from nextmv.cloud import InstanceConfiguration

        app_id = os.environ["APP_ID"]
        app = Application.new(client=client, name=app_id, id=app_id, description="compat suite")
        again = Application.new(client=client, name=app_id, id=app_id, exist_ok=True)
        exists = Application.exists(client=client, id=app_id)
        missing = Application.exists(client=client, id=app_id + "-missing")

        app.push(app_dir=os.environ["APP_DIR"])
        v1 = app.new_version(id=app_id + "-v1", name="first", description="first version")
        v2 = app.new_version(id=app_id + "-v2", name="second")
        fetched = app.version(v1.id)
        versions = [v.id for v in app.list_versions()]

        inst = app.new_instance(
            version_id=v1.id, id=app_id + "-i1", name="one", description="d",
            configuration=InstanceConfiguration(options={"greeting": "hi"}),
        )
        got = app.instance(inst.id)
        instances = [i.id for i in app.list_instances()]
        updated = app.update_instance(id=inst.id, name="renamed", version_id=v2.id, description="moved")
        reread = app.instance(inst.id)

        app.delete()
        emit({
            "app_id": app.id, "again_id": again.id, "exists": exists, "missing": missing,
            "exists_after_delete": Application.exists(client=client, id=app_id),
            "v1": v1.to_dict(), "fetched": fetched.to_dict(), "versions": versions,
            "instance": inst.to_dict(), "got": got.to_dict(), "instances": instances,
            "updated": updated.to_dict(), "reread": reread.to_dict(),
        })
        """,
        env={"APP_ID": app_id, "APP_DIR": str(app_dir("echo-json"))},
    )

    assert (out["app_id"], out["again_id"]) == (app_id, app_id)
    assert (out["exists"], out["missing"], out["exists_after_delete"]) == (True, False, False)

    v1 = out["v1"]
    assert (v1["id"], v1["application_id"], v1["name"], v1["description"]) == (
        f"{app_id}-v1",
        app_id,
        "first",
        "first version",
    )
    assert v1["executable"]["requirements"]["executable_type"] == "python"
    assert v1["executable"]["requirements"]["runtime"] == "ghcr.io/nextmv-io/runtime/python:3.11"
    assert out["fetched"]["id"] == v1["id"] and out["fetched"]["executable"]["id"] == v1["executable"]["id"]
    assert sorted(out["versions"]) == [f"{app_id}-v1", f"{app_id}-v2"]

    inst = out["instance"]
    assert (inst["id"], inst["application_id"], inst["version_id"], inst["name"]) == (
        f"{app_id}-i1",
        app_id,
        f"{app_id}-v1",
        "one",
    )
    assert inst["configuration"]["options"] == {"greeting": "hi"}
    assert inst["locked"] is False
    assert out["got"]["version_id"] == f"{app_id}-v1" and out["got"]["name"] == "one"
    assert out["instances"] == [f"{app_id}-i1"]

    for seen in (out["updated"], out["reread"]):
        assert (seen["name"], seen["version_id"], seen["description"]) == ("renamed", f"{app_id}-v2", "moved")
        # Neither SDK's update names the configuration here, so it must survive the update.
        assert seen["configuration"]["options"] == {"greeting": "hi"}


def test_lists_paginated_and_unpaginated_113(sdk113, app_dir):
    """More instances than any sensible page: the default list follows ``next_page_token`` to the end."""
    app_id, count = unique("app"), 120
    out = sdk113.run(
        """
        app_id = os.environ["APP_ID"]
        app = Application.new(client=client, name=app_id, id=app_id)
        app.push(app_dir=os.environ["APP_DIR"])
        version = app.new_version(id=app_id + "-v1")
        for n in range(int(os.environ["COUNT"])):
            app.new_instance(version_id=version.id, id=f"{app_id}-i{n:03d}")
        emit({
            "instances": [i.id for i in app.list_instances()],
            "instances_unpaginated": [i.id for i in app.list_instances(no_pagination=True)],
            "versions": [v.id for v in app.list_versions()],
            "versions_unpaginated": [v.id for v in app.list_versions(no_pagination=True)],
        })
        """,
        env={"APP_ID": app_id, "APP_DIR": str(app_dir("echo-json")), "COUNT": str(count)},
    )
    expected = [f"{app_id}-i{n:03d}" for n in range(count)]
    for key in ("instances", "instances_unpaginated"):
        assert len(out[key]) == count, f"{key}: {len(out[key])} items, duplicates or gaps"
        assert sorted(out[key]) == expected
    assert out["versions"] == out["versions_unpaginated"] == [f"{app_id}-v1"]


def test_list_shapes_switch_on_pagereturn(server):
    """§1.6: bare arrays without ``pagereturn``; ``{"items": [...]}`` with ``pagereturn=true``."""
    app_id = server.create_app()
    for path in (
        "v1/applications",
        f"v1/applications/{app_id}/versions",
        f"v1/applications/{app_id}/instances",
    ):
        legacy = server.api("GET", path)
        paged = server.api("GET", path, params={"pagereturn": "true"})
        assert legacy.status_code == 200 and isinstance(legacy.json(), list), (path, legacy.text)
        assert paged.status_code == 200 and isinstance(paged.json().get("items"), list), (path, paged.text)
