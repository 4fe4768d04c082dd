"""Secrets collections through both SDK generations: create, get, list, update (0.28.5 PUT, 1.13.0 PATCH
with operations), delete; a run given ``secrets_collection_id`` sees the env and the file secret, and the
server never writes a secret value in the clear (its log, its database, its data directory)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from .harness import SdkRunner, Server, Venv, copy_app, unique

pytestmark = pytest.mark.compat

# Secret models and fast polling, whichever the generation.
HELPERS = """
try:
    from nextmv import PollingOptions, RunConfiguration  # 1.x
except ImportError:
    from nextmv.cloud import PollingOptions, RunConfiguration
from nextmv.cloud import Secret, SecretType
FAST = PollingOptions(initial_delay=0.05, delay=0.05, backoff=0.0, jitter=0.0, max_delay=0.25)
"""


@pytest.fixture(scope="module")
def ctl_app(server: Server, sdk113_venv: Venv, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The ``ctl-json`` app (reports the digests of env ``RY_SECRET_TOKEN`` and file ``licenses/ry.lic``),
    pushed once per backend; its instance is ``<app>-i1``."""
    work = tmp_path_factory.mktemp("secrets-app")
    app_id = unique("app")
    SdkRunner("1.13.0", sdk113_venv, server, work).run(
        'deploy(os.environ["APP_ID"], os.environ["APP_DIR"])\nemit(True)',
        env={"APP_ID": app_id, "APP_DIR": str(copy_app("ctl-json", work / "apps"))},
    )
    return app_id


def test_secrets_collection_lifecycle(sdk):
    out = sdk.run(
        HELPERS
        + """
app = Application.new(client=client, name=os.environ["APP_ID"], id=os.environ["APP_ID"])
coll_id = os.environ["COLL_ID"]
first = [Secret(secret_type=SecretType.ENV, location="API_KEY", value="v1"),
         Secret(secret_type=SecretType.FILE, location="licenses/a.lic", value="file-1")]
created = app.new_secrets_collection(secrets=first, id=coll_id, name="first name", description="d1")
got = app.secrets_collection(coll_id)
listed = [s.to_dict() for s in app.list_secrets_collections()]
raw_list = client.request(method="GET", endpoint=f"{app.endpoint}/secrets").json()
second = [Secret(secret_type=SecretType.ENV, location="API_KEY", value="v2"),
          Secret(secret_type=SecretType.ENV, location="OTHER", value="o")]
updated = app.update_secrets_collection(coll_id, name="second name", description="d2", secrets=second)
after = app.secrets_collection(coll_id)
app.delete_secrets_collection(coll_id)
try:
    app.secrets_collection(coll_id)
    gone = 200
except Exception as exc:
    gone = http_status(exc)
emit({"created": created.to_dict(), "got": got.to_dict(), "listed": listed, "raw_list": raw_list,
      "updated": updated.to_dict(), "after": after.to_dict(), "gone": gone,
      "listed_after": [s.to_dict() for s in app.list_secrets_collections()]})
""",
        env={"APP_ID": unique("app"), "COLL_ID": unique("secrets")},
    )
    coll_id = out["created"]["id"]
    assert out["created"]["name"] == "first name" and out["created"]["description"] == "d1"
    assert out["created"]["application_id"] and out["created"]["created_at"] and out["created"]["updated_at"]

    def secrets(doc: dict) -> set[tuple[str, str, str]]:
        return {(s["type"], s["location"], s["value"]) for s in doc["secrets"]}

    assert out["got"]["id"] == coll_id
    assert secrets(out["got"]) == {("env", "API_KEY", "v1"), ("file", "licenses/a.lic", "file-1")}
    assert [c["id"] for c in out["listed"]] == [coll_id]
    assert set(out["raw_list"]) <= {"items", "next_page_token"} and out["raw_list"]["items"][0]["id"] == coll_id

    # 0.28.5 PUTs the full list; 1.13.0 PATCHes update/create/delete operations: the same end state.
    assert (out["updated"]["name"], out["updated"]["description"]) == ("second name", "d2")
    assert (out["after"]["name"], out["after"]["description"]) == ("second name", "d2")
    assert secrets(out["after"]) == {("env", "API_KEY", "v2"), ("env", "OTHER", "o")}
    assert out["gone"] == 404
    assert out["listed_after"] == []


def test_a_run_sees_its_secrets_and_they_stay_secret(sdk, ctl_app, server):
    env_value, file_value = f"env-{uuid.uuid4().hex}", f"file-{uuid.uuid4().hex}"
    out = sdk.run(
        HELPERS
        + """
app = Application(client=client, id=os.environ["APP_ID"])
coll_id = os.environ["COLL_ID"]
app.new_secrets_collection(
    secrets=[Secret(secret_type=SecretType.ENV, location="RY_SECRET_TOKEN", value=os.environ["ENV_VALUE"]),
             Secret(secret_type=SecretType.FILE, location="licenses/ry.lic", value=os.environ["FILE_VALUE"])],
    id=coll_id, name=coll_id,
)
result = app.new_run_with_result(input={"k": 1}, instance_id=os.environ["APP_ID"] + "-i1",
                                 configuration=RunConfiguration(secrets_collection_id=coll_id),
                                 polling_options=FAST)
plain = app.new_run_with_result(input={"k": 2}, instance_id=os.environ["APP_ID"] + "-i1", polling_options=FAST)
raw = client.request(method="GET", endpoint=f"{app.endpoint}/runs/{result.id}/metadata").json()
emit({"status": result.metadata.status_v2.value, "secrets": result.output["secrets"],
      "metadata": raw["metadata"], "plain": plain.output["secrets"], "logs": app.run_logs(result.id).log})
""",
        env={"APP_ID": ctl_app, "COLL_ID": unique("secrets"), "ENV_VALUE": env_value, "FILE_VALUE": file_value},
    )
    assert out["status"] == "succeeded", out["logs"]
    digest = lambda text: hashlib.sha256(text.encode()).hexdigest()  # noqa: E731
    assert out["secrets"] == {"env": digest(env_value), "file": digest(file_value)}
    assert out["plain"] == {"env": None, "file": None}  # nothing leaks into a run without the collection
    assert out["metadata"]["secrets_collection_id"]

    leaks = [
        str(path.relative_to(server.data_dir))
        for path in _files(server.data_dir)
        if any(value.encode() in path.read_bytes() for value in (env_value, file_value))
    ]
    assert leaks == [], "secret values written in the clear"
    if server.backend == "sqlite":  # the named suspects are there (and were searched above)
        assert server.log_path.is_file() and list(server.data_dir.glob("runyard.db*"))


def _files(root: Path) -> list[Path]:
    return [Path(d) / name for d, _, names in os.walk(root) for name in names if (Path(d) / name).is_file()]
