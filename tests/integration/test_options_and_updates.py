"""Option validation at run creation, run updates, and statistics on list items (in-process, both databases)."""

from __future__ import annotations

from integration.conftest import Api
from integration.test_api_core import wait_run

VALIDATED_APP = {
    "app.yaml": """
type: python
files: [main.py]
configuration:
  options:
    validation: {enforce: all}
    items:
      - {name: duration, option_type: int, default: 30, additional_attributes: {min: 1, max: 300}}
      - {name: mode, option_type: string, additional_attributes: {values: [fast, exact]}}
      - {name: verbose, option_type: bool, default: false}
""",
    "main.py": "print('{}')\n",
}


def test_validation_enforce_all_names_the_bad_option(api: Api) -> None:
    api.new_app("v1", push=False)
    assert api.push("v1", VALIDATED_APP).status_code == 200
    cases = [
        ({"duration": "0"}, "at least 1"),
        ({"duration": "301"}, "at most 300"),
        ({"duration": "ten"}, "type int"),
        ({"mode": "slow"}, "one of"),
        ({"verbose": "maybe"}, "bool"),
        ({"unknown": "1"}, "'unknown' is not defined"),
    ]
    for options, message in cases:
        r = api.post("/v1/applications/v1/runs", json={"input": {}, "options": options})
        assert r.status_code == 400, (options, r.text)
        assert message in r.json()["error"], (options, r.json())
    assert api.get("/v1/applications/v1/runs").json()["runs"] == []  # nothing was stored for them
    ok = api.post("/v1/applications/v1/runs", json={"input": {}, "options": {"duration": "300", "mode": "exact", "verbose": "true"}})
    assert ok.status_code == 200
    summary = api.get(f"/v1/applications/v1/runs/{ok.json()['run_id']}/metadata").json()["metadata"]["options"]["options_summary"]
    assert {s["name"]: (s["value"], s["source"]) for s in summary} == {
        "duration": ("300", "run"), "mode": ("exact", "run"), "verbose": ("true", "run")}


def test_runs_can_be_renamed(api: Api) -> None:
    api.new_app("v2")
    run_id = api.post("/v1/applications/v2/runs", json={"input": {"a": 1}, "name": "first"}).json()["run_id"]
    r = api.put(f"/v1/applications/v2/runs/{run_id}", json={"name": "renamed", "description": "why"})
    assert r.status_code == 200 and r.json()["name"] == "renamed"
    info = api.get(f"/v1/applications/v2/runs/{run_id}/metadata").json()
    assert (info["name"], info["description"]) == ("renamed", "why")
    assert api.put(f"/v1/applications/v2/runs/{run_id}", json={"name": 3}).status_code == 400


def test_list_items_carry_statistics_indicators(api: Api) -> None:
    api.new_app("v3")
    # The stub executor echoes the input as the output; statistics come from a tracked run here.
    upload = api.post("/v1/applications/v3/runs/uploadurl").json()
    api.client.put(upload["upload_url"], content=b'{"solution": {}, "statistics": {"result": {"value": 4.5}}}')
    tracked = api.post("/v1/applications/v3/runs", json={"input": {}, "result": {"status": "succeeded", "output_upload_id": upload["upload_id"]}})
    run_id = tracked.json()["run_id"]
    wait_run(api, "v3", run_id)
    item = api.get("/v1/applications/v3/runs?pagereturn=true").json()["runs"][0]
    assert item["run_type"] == {"type": "external"}
    assert item["statistics"] == {"status": "success", "indicators": [{"name": "result.value", "value": 4.5}]}
    assert api.get(f"/v1/applications/v3/runs/{run_id}/metadata").json()["metadata"]["metrics"] == {"result.value": 4.5}
    assert api.get(f"/v1/applications/v3/runs/{run_id}/metadata").json()["metadata"]["documents"] == {
        "statistics": {"result": {"value": 4.5}}}
