"""The marketplace as a catalog internal to one Runyard, through the official 1.13.0 SDK
(``nextmv.cloud.marketplace``) and CLI (``nextmv cloud marketplace …``), on SQLite and PostgreSQL.

Account A publishes one version of its app; account B subscribes and runs it. B's runs execute A's
published version and nothing else of A's: not A's newer unpublished version, not A's app itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .harness import SdkRunner, Server, copy_app, unique
from .test_official_cli import NextmvCli, https_front, nextmv  # noqa: F401  (fixtures)

pytestmark = pytest.mark.compat


def _edition(tmp: Path, name: str) -> Path:
    """The echo app, its solution tagged with ``name`` (so a run shows which executable ran)."""
    app = copy_app("echo-json", tmp / name)
    main = app / "main.py"
    main.write_text(main.read_text().replace('{"solution": data,', f'{{"solution": data, "edition": "{name}",'))
    return app


def _account(server: Server, name: str) -> tuple[str, str]:
    """A new organization and a key of its admin: (account id, key)."""
    email = f"admin@{name}.example"
    org = server.api("POST", "v1/organization", json={"name": name, "admins": [email]}).json()
    key = server.api("POST", f"v1/organization/{org['id']}/members/{email}/keys", json={}).json()["key"]
    return org["id"], key


def test_b_runs_a_published_version_and_nothing_else_of_a(sdk113: SdkRunner, server: Server, tmp_path: Path) -> None:
    a_id, a_key = _account(server, unique("a"))
    b_id, b_key = _account(server, unique("b"))
    published = sdk113.run(
        """
        from nextmv.cloud import marketplace
        app = Application.new(client=client, name="solver", id="solver")
        app.push(app_dir=os.environ["V1_DIR"])
        app.new_version(id="v1", name="v1")
        app.push(app_dir=os.environ["V2_DIR"])
        app.new_version(id="v2", name="v2")  # A's newest; not published
        own = app.new_run_with_result(input={"who": "a"}).output["edition"]
        m = marketplace.MarketplaceApplication.new(client, partner_id=os.environ["A"], reference_app_id="solver",
                                                   title="Shared solver", app_id="solver", description="for every team")
        m = m.update(state=marketplace.MarketplaceState.RELEASED)
        v = m.new_version(change_log=["first release"], reference_version_id="v1", version_id="m1")
        emit({"own": own, "app": m.to_dict(), "version": v.to_dict(),
              "versions": [x.to_dict() for x in m.list_versions()]})
        """,
        env={"RY_KEY": a_key, "A": a_id, "V1_DIR": str(_edition(tmp_path, "v1")), "V2_DIR": str(_edition(tmp_path, "v2"))},
    )
    assert published["own"] == "v2"
    assert published["app"]["state"] == "released" and published["app"]["ref_app_id"] == "solver"
    assert published["version"]["id"] == "m1" and published["version"]["change_log"] == ["first release"]
    assert [v["id"] for v in published["versions"]] == ["m1"]

    sub_id = f"{a_id}-solver"
    seen = sdk113.run(
        """
        from nextmv.cloud import marketplace
        import requests

        def status(call):
            try:
                call()
                return None
            except requests.HTTPError as exc:
                return http_status(exc)

        listed = [a.to_dict() for a in marketplace.list_marketplace_applications(client)]
        sub = marketplace.MarketplaceSubscription.new(client, subscription_id=os.environ["SUB"])
        subs = [s.to_dict() for s in marketplace.list_marketplace_subscriptions(client)]
        app = Application.get(client=client, id=os.environ["SUB"])
        result = app.new_run_with_result(input={"who": "b"})
        pinned = app.new_instance(version_id="m1", id="pinned")
        emit({
            "listed": listed, "sub": sub.to_dict(), "subs": subs, "app_type": app.type.value,
            "subscription_id": app.subscription_id, "output": result.output,
            "pinned": app.new_run_with_result(input={"who": "b"}, instance_id="pinned").output["edition"],
            "a_app": status(lambda: Application.get(client=client, id="solver")),
            "a_run": status(lambda: Application(client=client, id="solver").new_run(input={})),
            "unpublished": status(lambda: app.new_instance(version_id="v2", id="sneaky")),
            "a_version_id": status(lambda: app.version("v1")),
            "push": status(lambda: app.push(app_dir=os.environ["V2_DIR"])),
        })
        """,
        env={"RY_KEY": b_key, "SUB": sub_id, "V2_DIR": str(_edition(tmp_path / "b", "v2"))},
    )
    mine = next(a for a in seen["listed"] if a["partner_id"] == a_id)
    assert mine["title"] == "Shared solver" and mine["latest_versions"] == ["m1"]
    assert "ref_app_id" not in mine  # the partner's own app id is not shown to other accounts
    assert seen["sub"]["subscription_id"] == sub_id and seen["sub"]["app_title"] == "Shared solver"
    assert [s["subscription_id"] for s in seen["subs"]] == [sub_id]
    assert seen["app_type"] == "subscription" and seen["subscription_id"] == sub_id
    assert seen["output"]["edition"] == "v1" and seen["output"]["solution"] == {"who": "b"}
    assert seen["pinned"] == "v1"
    assert seen["a_app"] == 404 and seen["a_run"] == 404
    assert seen["unpublished"] == 404 and seen["a_version_id"] == 404
    assert seen["push"] == 409

    # A publishes v2: B's subscription runs it as its newest; B's runs stay B's.
    server.api("POST", f"v1/marketplace/partners/{a_id}/apps/solver/versions", key=a_key,
               json={"id": "m2", "change_log": ["second"], "ref_app_version_id": "v2"}).raise_for_status()
    after = sdk113.run(
        """
        app = Application.get(client=client, id=os.environ["SUB"])
        emit(app.new_run_with_result(input={"who": "b"}).output["edition"])
        """,
        env={"RY_KEY": b_key, "SUB": sub_id},
    )
    assert after == "v2"
    a_runs = server.api("GET", "v1/applications/solver/runs", key=a_key).json()
    assert len(a_runs["runs"]) == 1  # A's own run only: B's runs are not in A's account

    # A viewer cannot subscribe; unsubscribing removes the subscription's app.
    viewer = server.api("POST", f"v1/admin/accounts/{b_id}/keys", json={"role": "viewer"}).json()["key"]
    assert server.api("POST", "v1/marketplace/subscriptions", key=viewer, json={"subscription_id": sub_id}).status_code == 403
    assert server.api("DELETE", f"v1/marketplace/subscriptions/{sub_id}", key=b_key).status_code == 204
    assert server.api("GET", f"v1/applications/{sub_id}", key=b_key).status_code == 404


def test_official_cli_marketplace_commands(nextmv: NextmvCli, server: Server, tmp_path: Path) -> None:  # noqa: F811
    app_id = unique("pub")
    nextmv("cloud", "app", "create", "--app-id", app_id)
    nextmv("cloud", "app", "push", "--app-id", app_id, "--app-dir", str(_edition(tmp_path, "v1")), "--version-id", "v1")
    made = nextmv.json("cloud", "marketplace", "app", "create", "--partner-id", "default", "--app-id", app_id,
                       "--reference-app-id", app_id, "--title", "CLI solver")
    assert made["id"] == app_id and made["state"] == "pre-release"
    nextmv("cloud", "marketplace", "version", "create", "--partner-id", "default", "--app-id", app_id,
           "--version-id", "m1", "--reference-version-id", "v1", "--change-log", "first")
    listed = nextmv.json("cloud", "marketplace", "app", "list")
    assert any(a["id"] == app_id and a["latest_versions"] == ["m1"] for a in listed)
    sub = nextmv.json("cloud", "marketplace", "subscription", "create", "--subscription-id", f"default-{app_id}")
    assert sub["app_title"] == "CLI solver"
    subs = nextmv.json("cloud", "marketplace", "subscription", "list")
    assert f"default-{app_id}" in [s["subscription_id"] for s in subs]
    assert json.loads(server.api("GET", f"v1/applications/default-{app_id}").text)["type"] == "subscription"
