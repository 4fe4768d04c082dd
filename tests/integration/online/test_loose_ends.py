"""Loose ends found by running real clients: clones, runs attached to a batch experiment, flow graphs."""

from __future__ import annotations

from integration.experiments.conftest import Lab, ok, wait_for


def test_a_clone_records_the_run_it_clones(lab: Lab) -> None:
    base = lab.instance("base")
    source = lab.submit({"x": 1.0}, base)
    body = {"input": {"x": 1.0}, "tracking": {"cloned_run_id": source}}
    clone = ok(lab.api.post(f"{lab.base}/runs", params={"instance_id": base}, json=body))["run_id"]
    assert lab.metadata(clone)["tracking"] == {"cloned_run_id": source}
    assert "tracking" not in lab.metadata(source)
    bad = lab.api.post(f"{lab.base}/runs", params={"instance_id": base}, json={"input": {}, "tracking": {"cloned_run_id": 5}})
    assert bad.status_code == 400 and "cloned_run_id" in bad.text


def test_a_run_attached_to_a_batch_experiment_joins_it_and_triggers_no_test(lab: Lab) -> None:
    base, cand = lab.instance("base"), lab.instance("cand")
    lab.batch("b1", input_set_id=lab.input_set("s", lab.inputs("x", [1.0])), instance_ids=[base])
    ok(lab.api.post(f"{lab.base}/experiments/shadow", json={
        "id": "sh", "comparisons": {base: [cand]}, "termination_events": {"maximum_runs": 5}}))
    ok(lab.api.put(f"{lab.base}/experiments/shadow/sh/start"), 204)
    body = {"input": {"x": 7.0}, "batch_experiment_id": "b1"}
    run_id = ok(lab.api.post(f"{lab.base}/runs", params={"instance_id": base}, json=body))["run_id"]
    assert lab.metadata(run_id)["experiment_id"] == "b1"
    lab.wait_run(run_id)
    assert run_id in [r["id"] for r in lab.experiment_runs("b1")]
    assert ok(lab.api.get(f"{lab.base}/experiments/shadow/sh/runs"))["runs"] == []  # not mirrored
    missing = lab.api.post(f"{lab.base}/runs", params={"instance_id": base}, json={"input": {}, "batch_experiment_id": "nope"})
    assert missing.status_code == 404 and "nope" in missing.text


def test_a_workflow_flow_graph_is_kept(lab: Lab) -> None:
    run_id = lab.submit({"x": 1.0}, lab.instance("base"))
    url = f"/v1/internal/applications/{lab.app_id}/runs/{run_id}/flow"
    assert lab.api.get(url).status_code == 404
    graph = {"steps": [{"id": "prepare", "successors": ["solve"]}, {"id": "solve", "successors": []}]}
    ok(lab.api.put(url, json=graph), 204)
    assert ok(lab.api.get(url)) == graph
    assert ok(lab.api.get(f"/v1/applications/{lab.app_id}/runs/{run_id}/flow")) == graph
    assert lab.api.put(url, content=b"{not json").status_code == 400
    # Non-standard JSON is refused whatever the content type says (it could not be served back).
    for odd in (b'{"x": NaN}', b'{"x": 1e999}', b""):
        refused = lab.api.put(url, content=odd, headers={"Content-Type": "application/octet-stream"})
        assert refused.status_code == 400 and "JSON document" in refused.text
    assert ok(lab.api.get(url)) == graph
    assert lab.api.put(f"/v1/internal/applications/{lab.app_id}/runs/run-missing/flow", json=graph).status_code == 404


def test_another_account_sees_none_of_it_and_a_key_is_required(lab: Lab) -> None:
    from integration.conftest import Api

    base, cand = lab.instance("base"), lab.instance("cand")
    ok(lab.api.post(f"{lab.base}/experiments/shadow", json={
        "id": "sh", "comparisons": {base: [cand]}, "termination_events": {"maximum_runs": 5}}))
    ok(lab.api.post(f"{lab.base}/experiments/switchback", json={
        "id": "sw", "comparison": {"baseline_instance_id": base, "candidate_instance_id": cand},
        "generate_random_plan": {"units": 2, "unit_duration_minutes": 5}}))
    ok(lab.api.post(f"{lab.base}/ensembles", json={"id": "e1", "run_groups": [{"id": "g", "instance_id": base}], "rules": []}))
    acct = ok(lab.api.post("/v1/admin/accounts", json={"name": "team b"}))
    key_b = ok(lab.api.post(f"/v1/admin/accounts/{acct['id']}/keys", json={"name": "k", "role": "developer"}))["key"]
    other = Api(lab.api.client, key_b)
    paths = [f"{lab.base}/experiments/shadow/sh", f"{lab.base}/experiments/shadow/sh/runs",
             f"{lab.base}/experiments/switchback/sw", f"{lab.base}/ensembles/e1", f"{lab.base}/experiments/shadow"]
    for path in paths:
        assert other.get(path).status_code == 404, path
        assert lab.api.client.get(path).status_code == 401, path
    assert other.put(f"{lab.base}/experiments/shadow/sh/start").status_code == 404
    assert other.delete(f"{lab.base}/ensembles/e1").status_code == 404
    assert ok(lab.api.get(f"{lab.base}/experiments/shadow/sh"))["status"] == "draft"


FILES_MAIN = r'''
import json, os, sys
doc = json.load(sys.stdin)
os.makedirs("output", exist_ok=True)
with open("output/solution.csv", "w") as f:
    f.write("item,take\na,1\nb,0\n")
json.dump({"solution": {"items": 2}, "statistics": {"result": {"value": doc.get("x", 0)}}}, sys.stdout)
'''


def _wait(lab: Lab, app_id: str, run_id: str) -> dict:  # type: ignore[type-arg]
    def ended() -> dict | None:  # type: ignore[type-arg]
        meta = ok(lab.api.get(f"/v1/applications/{app_id}/runs/{run_id}/metadata"))["metadata"]
        return meta if meta["status_v2"] in ("succeeded", "failed", "canceled") else None

    return wait_for(ended, what=f"run {run_id}")


def test_an_archive_output_asked_of_a_json_app_keeps_its_files(lab: Lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import io
    import tarfile

    ok(lab.api.post("/v1/applications", json={"id": "files", "name": "files"}))
    ok(lab.api.push("files", {"app.yaml": "type: python\nruntime: ghcr.io/nextmv-io/runtime/python:3.11\nfiles: [main.py]\n",
                              "main.py": FILES_MAIN}))
    body = {"input": {"x": 3}, "configuration": {"format": {"input": {"type": "json"}, "output": {"type": "csv-archive"}}}}
    run_id = ok(lab.api.post("/v1/applications/files/runs", params={"instance_id": "latest"}, json=body))["run_id"]
    info = _wait(lab, "files", run_id)
    assert info["status_v2"] == "succeeded" and info["format"]["output"]["type"] == "csv-archive"
    url = ok(lab.api.get(f"/v1/applications/files/runs/{run_id}/output"))["url"]
    archive = lab.api.client.get(url)
    assert archive.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        assert tar.getnames() == ["solution.csv"]
        assert tar.extractfile("solution.csv").read() == b"item,take\na,1\nb,0\n"  # type: ignore[union-attr]
    # without asking, a json app's run is collected from stdout as before
    plain = ok(lab.api.post("/v1/applications/files/runs", params={"instance_id": "latest"}, json={"input": {"x": 1}}))["run_id"]
    assert _wait(lab, "files", plain)["format"]["output"]["type"] == "json"
    assert ok(lab.api.get(f"/v1/applications/files/runs/{plain}"))["output"]["solution"] == {"items": 2}
    # ... and the file it left in output/ does not vanish silently: the run's log names it and says why
    log = ok(lab.api.get(f"/v1/applications/files/runs/{plain}/logs"))["log"]
    assert "output/solution.csv" in log and "not kept" in log and "csv-archive" in log, log
    asked = ok(lab.api.get(f"/v1/applications/files/runs/{run_id}/logs"))["log"]
    assert "not kept" not in asked
