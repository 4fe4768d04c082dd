"""Python-native models: a ``nextmv.Model`` pushed with ``push(model=…, model_configuration=…)``.

The official 0.28.5 SDK saves the model with mlflow's pyfunc format, writes its own entry point and
bundles mlflow's whole dependency tree as Linux ARM64 wheels (a ~236 MB archive of ~20,800 members);
Runyard's SDK saves the same model and ships only the requirements. Both must run on Runyard with the
output a direct ``solve`` gives on the same input and options, the ``ModelConfiguration``'s option
reaching the model. Requirements that cannot be installed fail the first run with a message naming
the package. 1.13.0 has no ``nextmv.Model`` at all.

mlflow lives only in this suite's own client venv (``nextmv==0.28.5``, mlflow and Runyard itself), not
in Runyard's test install; app environments are shared by both backends (``app_env_dir``).
"""

from __future__ import annotations

import time

import pytest

from .harness import CACHE, REPO, SdkRunner, Server, Venv, make_bundle, unique

pytestmark = [pytest.mark.compat, pytest.mark.slow]

SDK_TIMEOUT_SECONDS = 20  # 0.28.5's read timeout: the activation must answer within it

# The model, the options it declares, and a direct solve: shared by every script below.
MODEL = '''
import nextmv

ITEMS = {"items": [{"id": "a", "weight": 4, "value": 10}, {"id": "b", "weight": 5, "value": 6},
                   {"id": "c", "weight": 3, "value": 9}, {"id": "d", "weight": 2, "value": 1}]}


class GreedyKnapsack(nextmv.Model):
    """Best value per weight first, while the capacity (an option) allows."""

    def solve(self, input):
        chosen, weight = [], 0
        for item in sorted(input.data["items"], key=lambda i: -i["value"] / i["weight"]):
            if weight + item["weight"] <= input.options.capacity:
                chosen.append(item["id"])
                weight += item["weight"]
        return nextmv.Output(options=input.options, solution={"items": chosen, "weight": weight},
                             statistics={"result": {"value": weight}})


def options(capacity=12):
    return nextmv.Options(nextmv.Option("capacity", int, capacity, "Knapsack capacity.", False))


def configuration(requirements=()):
    return nextmv.ModelConfiguration(name="knapsack", requirements=list(requirements), options=options())


def direct(capacity):
    """What solve gives here, in this process, on the same input and options."""
    out = GreedyKnapsack().solve(nextmv.Input(data=ITEMS, options=options(capacity)))
    return out.to_dict()["solution"]
'''

# Runs the pushed app twice (the option at its default, then set) and compares each with ``direct``.
RUN_AND_COMPARE = '''
def run_twice(app, **version):
    out = {}
    for label, run_options in (("default", {}), ("capacity8", {"capacity": "8"})):
        run_id = app.new_run(input=ITEMS, options=run_options, **version)
        info = wait_terminal(app, run_id, timeout=900)
        status = info.metadata.status_v2.value
        result = app.run_result(run_id).output if status == "succeeded" else None
        out[label] = {"status": status, "error": info.metadata.error, "output": result}
    out["direct"] = {"default": direct(12), "capacity8": direct(8)}
    return out
'''


@pytest.fixture(scope="session")
def model_venv() -> Venv:
    """``nextmv==0.28.5`` with mlflow (its ``Model.save`` needs it) and Runyard's SDK (for its push)."""
    probe = ("import sys, nextmv, mlflow, pip, runyard.cloud; "
             "sys.exit(nextmv.__version__.lstrip('v') != '0.28.5')")
    return Venv(CACHE / "model-0.28.5", ("nextmv==0.28.5", "pip", "mlflow>=2.18.0", "-e", str(REPO)),
                probe).ensure()


@pytest.fixture
def model_sdk(server: Server, model_venv: Venv, tmp_path) -> SdkRunner:
    return SdkRunner("0.28.5", model_venv, server, tmp_path)


def _assert_same_as_direct(out: dict) -> None:
    for label in ("default", "capacity8"):
        assert out[label]["status"] == "succeeded", out[label]["error"]
        assert out[label]["output"]["solution"] == out["direct"][label]
    assert out["default"]["output"]["options"]["capacity"] == 12  # the ModelConfiguration's default
    assert out["capacity8"]["output"]["options"]["capacity"] == 8  # the run's option reached the model
    assert out["default"]["output"]["solution"] != out["capacity8"]["output"]["solution"]


@pytest.mark.timeout(1800)  # the SDK installs 835 MB of ARM64 wheels and gzips them before it uploads
def test_official_sdk_pushes_a_model_that_runs_as_a_direct_solve(model_sdk: SdkRunner, tmp_path) -> None:
    app_dir = tmp_path / "notebook"
    app_dir.mkdir()
    out = model_sdk.run(
        MODEL + RUN_AND_COMPARE + '''
from nextmv.cloud import Manifest

activations = []
request = client.request


def timed(method, endpoint, **kwargs):
    started = time.monotonic()
    response = request(method=method, endpoint=endpoint, **kwargs)
    if method == "PUT" and endpoint.endswith("/binary"):
        activations.append(time.monotonic() - started)
    return response


client.request = timed
app_id = os.environ["APP_ID"]
app = Application.new(client=client, name=app_id, id=app_id)
config = configuration(["nextmv==0.28.5"])
started = time.monotonic()
app.push(manifest=Manifest.from_model_configuration(config), app_dir=os.environ["APP_DIR"],
         model=GreedyKnapsack(), model_configuration=config)
pushed = time.monotonic() - started
version = app.new_version(id=app_id + "-v1", name="v1")
instance = app.new_instance(version_id=version.id, id=app_id + "-i1", name="i1")
out = run_twice(app, instance_id=instance.id)
out.update(activation=activations, push=pushed)
emit(out)
''',
        # The SDK's pip download (~835 MB of wheels) is cached for the other database's push.
        env={"APP_ID": unique("model"), "APP_DIR": str(app_dir), "PIP_CACHE_DIR": str(CACHE / "pip-model-push")},
        timeout=1800,
    )
    print(f"0.28.5 push {out['push']:.1f} s, activation {out['activation'][0]:.2f} s")
    assert len(out["activation"]) == 1 and out["activation"][0] < SDK_TIMEOUT_SECONDS
    _assert_same_as_direct(out)


def test_runyard_sdk_pushes_the_same_model(model_sdk: SdkRunner) -> None:
    out = model_sdk.run(
        MODEL + RUN_AND_COMPARE + '''
from runyard import cloud

ry = cloud.Client(api_key=KEY, url=URL)
app_id = os.environ["APP_ID"]
app = cloud.Application.new(client=ry, name=app_id, id=app_id)
app.push(model=GreedyKnapsack(), model_configuration=configuration())
out = run_twice(Application(client=client, id=app_id), instance_id="latest")
emit(out)
''',
        env={"APP_ID": unique("rymodel")},
        timeout=1200,
    )
    _assert_same_as_direct(out)


def test_a_requirement_that_cannot_be_installed_fails_the_first_run_naming_it(model_sdk: SdkRunner) -> None:
    out = model_sdk.run(
        MODEL + '''
from runyard import cloud

ry = cloud.Client(api_key=KEY, url=URL)
app_id = os.environ["APP_ID"]
app = cloud.Application.new(client=ry, name=app_id, id=app_id)
app.push(model=GreedyKnapsack(), model_configuration=configuration(["runyard-no-such-package-zq==1.0"]))
info = wait_terminal(Application(client=client, id=app_id),
                     Application(client=client, id=app_id).new_run(input=ITEMS, instance_id="latest"))
emit({"status": info.metadata.status_v2.value, "error": info.metadata.error})
''',
        env={"APP_ID": unique("badmodel")},
        timeout=900,
    )
    assert out["status"] == "failed"
    assert "runyard-no-such-package-zq" in out["error"]


def test_bundled_pins_that_cannot_be_installed_fail_the_first_run_naming_the_package(server: Server) -> None:
    """An official bundle's lock (``.nextmv/python/deps/*.dist-info``) naming what no index has."""
    app_id = server.create_app()
    metadata = b"Metadata-Version: 2.1\nName: runyard-missing-dep-zq\nVersion: 9.9.9\n"
    bundle = make_bundle({
        "app.yaml": b"type: python\nruntime: ghcr.io/nextmv-io/runtime/python:3.11\nfiles: [main.py]\n",
        "main.py": b"print('{}')\n",
        ".nextmv/python/deps/runyard_missing_dep_zq-9.9.9.dist-info/METADATA": metadata,
        ".nextmv/python/deps/runyard_missing_dep_zq/__init__.py": b"",
    })
    assert server.upload_bundle(app_id, bundle).status_code == 200
    assert server.activate_bundle(app_id).status_code == 200
    run = server.api("POST", f"v1/applications/{app_id}/runs", json={"input": {}})
    assert run.status_code in (200, 202), run.text
    deadline = time.monotonic() + 600
    while True:
        meta = server.api("GET", f"v1/applications/{app_id}/runs/{run.json()['run_id']}/metadata").json()["metadata"]
        if meta["status_v2"] in ("succeeded", "failed", "canceled") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert meta["status_v2"] == "failed"
    assert "runyard-missing-dep-zq" in meta["error"]


def test_sdk_1_13_has_no_model_push(sdk113: SdkRunner, tmp_path) -> None:
    out = sdk113.run(
        '''
import nextmv
app = Application(client=client, id="unused")
try:
    app.push(app_dir=".", model=object(), model_configuration=object())
    outcome = "pushed"
except TypeError as exc:
    outcome = str(exc)
emit({"has_model": hasattr(nextmv, "Model"), "push": outcome})
'''
    )
    assert out["has_model"] is False
    assert "model" in out["push"] and "unexpected keyword" in out["push"]
