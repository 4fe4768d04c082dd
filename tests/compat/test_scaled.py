"""The official SDKs against the scaled shape: two ``runyard serve`` replicas (requests alternate between
them) on one PostgreSQL, blobs in S3 (SeaweedFS), runs on a Ray cluster (a head and two worker nodes).

Every flow once per SDK generation: push, a JSON run, a large input and output through presigned S3
URLs, cancel, a batch experiment; 1.13.0 also a multi-file run. Afterwards every run executed exactly
once (a run's first log line appears once).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from runyard.testing.ray_cluster import RayCluster
from runyard.testing.seaweedfs import SeaweedS3

from .harness import SdkRunner, copy_app, sdk_venv, unique
from .proxy import Pair, replica_pair
from .test_run_contract import MULTI_FILE_INPUT, MULTI_FILE_SOLUTION, write_csvs

pytestmark = [pytest.mark.compat, pytest.mark.slow]
BUCKET = "runyard-scaled"


@pytest.fixture(scope="module")
def scaled(postgres_cluster, seaweedfs: SeaweedS3, ray_cluster: RayCluster,  # type: ignore[no-untyped-def]
           tmp_path_factory: pytest.TempPathFactory, app_env_dir: Path) -> Iterator[Pair]:
    database_url = postgres_cluster.create_database()
    ray_cluster.expose(int(seaweedfs.endpoint.rsplit(":", 1)[1]))  # the nodes reach S3 where the servers do
    base = tmp_path_factory.mktemp("scaled")
    settings = {
        **seaweedfs.env(),
        "RUNYARD_BLOB_URL": f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}?create=true",
        "RUNYARD_EXECUTOR": ray_cluster.address,
        "RUNYARD_EXECUTION__RAY_NAMESPACE": f"scaled-{uuid.uuid4().hex[:8]}",
        "RUNYARD_EXECUTION__CLASSES": json.dumps({"c1": {"concurrency": 4, "max_duration_seconds": 300, "memory_mb": 2048}}),
        "RUNYARD_EXECUTION__DEFAULT_CLASS": "c1",
        "RUNYARD_EXECUTION__RAY_CANCEL_GRACE_SECONDS": "5",
    }
    with replica_pair(database_url=database_url, base=base, env_dir=app_env_dir, settings=settings, name="scaled") as pair:
        yield pair


FLOW = """
import hashlib
import nextmv
from nextmv.cloud import BatchExperimentRun
try:
    from nextmv.polling import PollingOptions
except ImportError:
    from nextmv.cloud import PollingOptions

V1 = nextmv.__version__.lstrip("v").startswith("1.")
FAST = PollingOptions(initial_delay=0.1, delay=0.1, backoff=0, jitter=0, max_duration=300)

def digest(value):
    return hashlib.sha256(json.dumps(value, separators=(",", ":"), sort_keys=True).encode()).hexdigest()

app, version_id, instance_id = deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
small = app.new_run_with_result(input={"hello": "scaled"}, instance_id=instance_id, polling_options=FAST,
                                run_options={"lines": "2"})
data = {"rows": [f"{i:07d}-{(i * 7919) % 100003:06d}" for i in range(400_000)]}
large = app.new_run_with_result(input=data, instance_id=instance_id, polling_options=FAST)
upload = app.upload_url()

sleeper, running = running_sleeper(app, instance_id, 120)
if running != "running":
    raw = client.request(method="GET", endpoint=f"v1/applications/{app.id}/runs/{sleeper}").json()
    emit({"sleeper_not_running": raw.get("metadata"), "log": app.run_logs(sleeper).log})
    sys.exit(0)
app.cancel_run(sleeper)
canceled = wait_terminal(app, sleeper).metadata.status_v2.value

inputs = []
for n in range(3):
    url = app.upload_url()
    if V1:
        app.upload_data(upload_url=url, data={"x": n})
    else:
        app.upload_large_input(input={"x": n}, upload_url=url)
    inputs.append(app.new_managed_input(id=f"{app.id}-in{n}", name=f"in{n}", upload_id=url.upload_id))
input_set = app.new_input_set(id=f"{app.id}-set", name="set", inputs=inputs)
exp_id = f"{app.id}-exp"
if V1:
    runs = [BatchExperimentRun(input_id=i.id, instance_id=instance_id) for i in inputs]
    exp = app.new_batch_experiment_with_result(name="exp", id=exp_id, runs=runs, polling_options=FAST)
else:
    app.new_batch_experiment(name="exp", id=exp_id, input_set_id=input_set.id, instance_ids=[instance_id])
    deadline = time.monotonic() + 300
    while True:
        exp = app.batch_experiment(exp_id)
        if getattr(exp.status, "value", exp.status) in ("completed", "failed", "canceled") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
exp_doc = exp.to_dict()

multi = None
if V1:
    mf, _, mf_instance = deploy(os.environ["MF_ID"], os.environ["MF_DIR"])
    run_id = mf.new_run(input_dir_path=os.environ["MF_IN"], instance_id=mf_instance)
    info = wait_terminal(mf, run_id)
    mf.run_result(run_id, output_dir_path=os.environ["MF_OUT"])
    multi = {"status": info.metadata.status_v2.value,
             "result": json.load(open(os.path.join(os.environ["MF_OUT"], "result.json")))}

logs = {r: app.run_logs(r).log for r in (small.id, large.id, sleeper)}
emit({"small": [small.metadata.status_v2.value, small.output["solution"]],
      "large": [large.metadata.status_v2.value, digest(large.output["solution"]) == digest(data),
                large.metadata.input_size],
      "upload_url": upload.upload_url, "running": running, "canceled": canceled,
      "experiment": [exp_doc.get("status"), exp_doc.get("number_of_runs"), exp_doc.get("number_of_completed_runs")],
      "multi": multi, "logs": logs})
"""


@pytest.mark.parametrize("version", ["0.28.5", "1.13.0"])
def test_every_flow_through_two_replicas_s3_and_ray(scaled: Pair, seaweedfs: SeaweedS3, version: str,
                                                    tmp_path: Path) -> None:
    roles = sorted(requests.get(f"{s.url}/healthz", timeout=5).json()["dispatcher"]["role"] for s in scaled.replicas)
    assert roles == ["leader", "standby"]
    before = dict(scaled.proxy.sent)
    sdk = SdkRunner(version, sdk_venv(version), scaled.front, tmp_path)
    out = sdk.run(FLOW, env={
        "APP_ID": unique("scaled"), "APP_DIR": str(copy_app("ctl-json", tmp_path / "apps")),
        "MF_ID": unique("scaled-mf"), "MF_DIR": str(copy_app("multi-file", tmp_path / "apps")),
        "MF_IN": str(write_csvs(tmp_path / "mf-in", MULTI_FILE_INPUT)), "MF_OUT": str(tmp_path / "mf-out"),
    }, timeout=900)
    assert "sleeper_not_running" not in out, json.dumps(out)
    assert out["small"] == ["succeeded", {"hello": "scaled"}]
    status, same, input_size = out["large"]
    assert status == "succeeded" and same and input_size > 5 * 1024 * 1024
    # Large payloads go straight to S3: the upload URL is the store's own, presigned for one object.
    assert out["upload_url"].startswith(f"{seaweedfs.endpoint}/{BUCKET}/") and "X-Amz-Signature=" in out["upload_url"]
    assert (out["running"], out["canceled"]) == ("running", "canceled")
    assert out["experiment"] == ["completed", 3, 3]
    if version == "1.13.0":
        assert out["multi"]["status"] == "succeeded"
        assert out["multi"]["result"] == MULTI_FILE_SOLUTION["result.json"]
    # Each run executed once: the runs that log, logged their first line once.
    logs = list(out["logs"].values())
    assert logs[0].count("ctl-json: line 0") == 1 and logs[2].count("ctl-json: line 0") == 1, logs
    # Both replicas served the SDK.
    sent = {k: v - before.get(k, 0) for k, v in scaled.proxy.sent.items()}
    assert len(sent) == 2 and min(sent.values()) > 10, sent
