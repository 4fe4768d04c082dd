"""Cloud calls a self-hosted Runyard does not serve answer 501 with one line naming the alternative.

Driven by the official 1.13.0 SDK (integrations, SSO, and community apps on a server without a
catalog folder) and by its CLI (``nextmv cloud sso …``, ``nextmv community list``). Organizations and
the marketplace are served (``test_organizations``, ``test_marketplace``). The CLI must exit non-zero
with one error line and no traceback.
"""

from __future__ import annotations

import json

import pytest

from runyard.server.api import unavailable

from .harness import SdkRunner, Server
from .test_official_cli import NextmvCli, https_front, nextmv  # noqa: F401  (fixtures)

pytestmark = pytest.mark.compat

# One SDK call per line: (area, Python expression) for the 1.13.0 SDK.
SDK_CALLS = [
    ("integrations", "integration.list_integrations(client)"),
    ("integrations", "integration.Integration.get(client, 'dbx')"),
    ("sso", "sso.SSOConfiguration.get(client)"),
    ("community", "community.list_community_apps(client)"),
]

MESSAGES = {
    "integrations": unavailable.INTEGRATIONS,
    "sso": unavailable.SSO,
    "community": unavailable.COMMUNITY,
}


def test_sdk_calls_get_501_naming_the_alternative(sdk113: SdkRunner) -> None:
    out = sdk113.run(
        """
        from nextmv.cloud import community, integration, sso
        import requests
        seen = []
        for area, expr in json.loads(os.environ["CALLS"]):
            try:
                eval(expr)
                seen.append([area, None, "no error"])
            except requests.HTTPError as exc:
                seen.append([area, http_status(exc), str(exc)])
        emit(seen)
        """,
        env={"CALLS": json.dumps(SDK_CALLS)},
    )
    assert len(out) == len(SDK_CALLS)
    for (area, expr), (_, status, text) in zip(SDK_CALLS, out, strict=True):
        assert status == 501, f"{expr}: {status} {text}"
        assert MESSAGES[area] in text, f"{expr}: {text}"


def test_a_caller_without_a_key_gets_401_not_the_message(server: Server) -> None:
    for path in ("v1/organization/acme", "v1/marketplace/apps", "v1/enterprise/sso", "v1/integrations",
                 "v0/internal/tools"):
        response = server.api("GET", path, key=None)
        assert response.status_code == 401, path


CLI_COMMANDS = [
    ("sso", ("cloud", "sso", "get")),
    ("community", ("community", "list")),
]


@pytest.mark.parametrize(("area", "args"), CLI_COMMANDS, ids=[" ".join(a[:3]) for _, a in CLI_COMMANDS])
def test_official_cli_exits_nonzero_with_one_line(nextmv: NextmvCli, area: str, args: tuple[str, ...]) -> None:  # noqa: F811
    proc = nextmv(*args, expect=1)
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text
    assert "Error" in text, text
    assert "not found" not in text.lower(), text
    # The 1.13.0 CLI replaces the body of every status >= 500 with one fixed line ("There was an
    # unexpected error in Nextmv Cloud…"), so the 501's own message reaches SDK callers only.
    assert len([line for line in text.splitlines() if "Error" in line]) == 1, text
