"""The Runyard client SDK. Import the public surface from :mod:`runyard.cloud` (``from runyard import
cloud``); errors live in :mod:`runyard.sdk.errors` and the async client in :mod:`runyard.sdk.aio`.

It never imports the server: it needs only httpx, pydantic, pyyaml and rich.

Names, signatures, defaults and wire requests follow ``nextmv`` 0.28.5 (checked request by request
in ``tests/sdk/test_wire_equivalence.py``). Deliberate differences:

* every POST carries an ``Idempotency-Key`` (reused by its retries);
* ``*_with_result`` wait with ``GET …/metadata?wait=`` long-polls, falling back to the documented
  polling schedule when a server answers at once (one that does not know ``wait``);
* retries apply to every URL scheme, on 429/503 (``status_forcelist``) and on network failures,
  honour ``Retry-After``, and end with a typed error (:mod:`runyard.sdk.errors`, which are also
  ``requests.HTTPError`` when requests is installed, with ``.response`` set);
* ``push`` ships ``app.yaml`` as written plus the ``python.pip-requirements`` file instead of
  pre-installed wheels; the server builds the environment;
* csv-archive ``Input`` and ``new_run(input_dir_path=...)`` are sent as .tar.gz uploads;
* tracked-run logs are joined with real newlines; ``new_acceptance_test`` on a missing batch raises
  ``ValueError`` as documented.

Additions the ``runyard`` CLI uses: ``list_applications(client)`` and ``Application.list_runs()``
(as in nextmv 1.x, all pages read, returning ``ApplicationInformation`` / ``Run`` models),
``Application.information()``, and ``Admin`` (accounts and API keys through the admin API).
"""
