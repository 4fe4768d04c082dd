"""Organizations through the official 1.13.0 SDK's ``Account`` calls and the 1.13.0 CLI's
``nextmv cloud account …``, on SQLite and PostgreSQL.

An organization is a Runyard account: the server's admin creates it with its admins as members, an
admin of it issues a member a key, another account's organization answers 404 and a viewer cannot
create one (403).
"""

from __future__ import annotations

import json

import pytest

from .harness import SdkRunner, Server
from .test_official_cli import NextmvCli, https_front, nextmv  # noqa: F401  (fixtures)

pytestmark = pytest.mark.compat


def _member_key(server: Server, org_id: str, email: str) -> str:
    r = server.api("POST", f"v1/organization/{org_id}/members/{email}/keys", json={})
    assert r.status_code == 200, r.text
    return r.json()["key"]


def test_account_new_get_update_delete(sdk113: SdkRunner, server: Server) -> None:
    made = sdk113.run(
        """
        from nextmv.cloud import Account
        acct = Account.new(client, name="Bunny Logistics", admins=["peter@carrot.example", "flopsy@carrot.example"])
        emit(acct.to_dict())
        """
    )
    org_id = made["id"]
    assert made["name"] == "Bunny Logistics"
    assert made["members"] == [
        {"email": "flopsy@carrot.example", "role": "admin", "pending_invite": True},
        {"email": "peter@carrot.example", "role": "admin", "pending_invite": True},
    ]
    key = _member_key(server, org_id, "peter@carrot.example")

    # The member's own key: get, update (GET then full PUT), and the other account answers 404.
    seen = sdk113.run(
        """
        from nextmv.cloud import Account
        import requests
        got = Account.get(client, os.environ["ORG"])
        updated = got.update(name="Bunny Express")
        again = Account.get(client, os.environ["ORG"])
        try:
            Account.get(client, "default")
            other = None
        except requests.HTTPError as exc:
            other = http_status(exc)
        emit({"got": got.to_dict(), "updated": updated.to_dict(), "again": again.name, "other": other})
        """,
        env={"ORG": org_id, "RY_KEY": key},
    )
    members = {m["email"]: m for m in seen["got"]["members"]}
    assert members["peter@carrot.example"] == {"email": "peter@carrot.example", "role": "admin", "pending_invite": False}
    assert members["flopsy@carrot.example"]["pending_invite"] is True
    assert seen["updated"]["name"] == "Bunny Express" and seen["again"] == "Bunny Express"
    assert seen["updated"]["members"] == seen["got"]["members"]
    assert seen["other"] == 404

    gone = sdk113.run(
        """
        from nextmv.cloud import Account
        import requests
        Account(client=client, account_id=os.environ["ORG"]).delete()
        try:
            Account.get(client, os.environ["ORG"])
            emit(None)
        except requests.HTTPError as exc:
            emit(http_status(exc))
        """,
        env={"ORG": org_id},
    )
    assert gone == 404


def test_viewer_cannot_create_and_strangers_see_404(sdk113: SdkRunner, server: Server) -> None:
    viewer = server.api("POST", "v1/admin/accounts/default/keys", json={"role": "viewer"}).json()["key"]
    a = server.api("POST", "v1/organization", json={"name": "A", "admins": ["a@a.example"]}).json()
    b = server.api("POST", "v1/organization", json={"name": "B", "admins": ["b@b.example"]}).json()
    out = sdk113.run(
        """
        from nextmv.cloud import Account
        import requests
        seen = {}
        for name, key, call in (
            ("viewer_new", os.environ["VIEWER"], lambda c: Account.new(c, name="x", admins=["x@x.example"])),
            ("a_gets_b", os.environ["A_KEY"], lambda c: Account.get(c, os.environ["B"])),
            ("a_renames_b", os.environ["A_KEY"], lambda c: Account(client=c, account_id=os.environ["B"]).update(name="mine")),
            ("a_deletes_b", os.environ["A_KEY"], lambda c: Account(client=c, account_id=os.environ["B"]).delete()),
        ):
            try:
                call(Client(api_key=key, url=URL))
                seen[name] = None
            except requests.HTTPError as exc:
                seen[name] = [http_status(exc), str(exc)]
        emit(seen)
        """,
        env={"VIEWER": viewer, "A_KEY": _member_key(server, a["id"], "a@a.example"), "B": b["id"]},
    )
    assert out["viewer_new"][0] == 403 and "admin" in out["viewer_new"][1]
    assert out["a_gets_b"][0] == 404 and out["a_renames_b"][0] == 404 and out["a_deletes_b"][0] == 404
    assert server.api("GET", f"v1/organization/{b['id']}").json()["name"] == "B"


def test_official_cli_account_commands(nextmv: NextmvCli, server: Server) -> None:  # noqa: F811
    made = nextmv.json("cloud", "account", "create", "--name", "Cottontail Couriers", "--admins",
                       "fluffy@hop.example,thumper@hop.example")
    org_id = made["id"]
    assert sorted(m["email"] for m in made["members"]) == ["fluffy@hop.example", "thumper@hop.example"]
    assert nextmv.json("cloud", "account", "get", "--account-id", org_id)["name"] == "Cottontail Couriers"
    updated = nextmv.json("cloud", "account", "update", "--account-id", org_id, "--name", "Cottontail Co")
    assert updated["name"] == "Cottontail Co"
    nextmv("cloud", "account", "delete", "--account-id", org_id, "--yes")
    assert server.api("GET", f"v1/organization/{org_id}").status_code == 404
    proc = nextmv("cloud", "account", "get", "--account-id", org_id, expect=1)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert json.loads(server.api("GET", "v1/organization/default").text)["id"] == "default"
