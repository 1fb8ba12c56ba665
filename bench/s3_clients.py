"""boto3 in threads (what the S3 store uses) vs aiobotocore: one multipart upload, the figures in s3.py's docstring.

    python bench/s3_clients.py ENDPOINT BUCKET [--client boto3|aiobotocore] [--size-mib 1024] [--in-flight 3]
                               [--checksums when_supported|when_required]

ENDPOINT is an S3 server with BUCKET in it (`moto_server -p PORT`, then create the bucket). aiobotocore
pins botocore to a narrow range, so run `--client aiobotocore` from its own virtual environment
(`pip install aiobotocore`), not the project's. Prints MB/s, client CPU-s per GiB and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

PART = 8 * 1024 * 1024
KEYS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


async def with_boto3(args: argparse.Namespace, config: Any, body: bytes, parts: int) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=args.endpoint, config=config, **KEYS)
    pool = ThreadPoolExecutor(32)
    loop = asyncio.get_running_loop()

    async def call(name: str, **kwargs: Any) -> Any:
        return await loop.run_in_executor(pool, lambda: getattr(client, name)(**kwargs))

    await upload(call, args, body, parts)


async def with_aiobotocore(args: argparse.Namespace, config: Any, body: bytes, parts: int) -> None:
    from aiobotocore.session import get_session

    async with get_session().create_client("s3", endpoint_url=args.endpoint, config=config, **KEYS) as client:

        async def call(name: str, **kwargs: Any) -> Any:
            return await getattr(client, name)(**kwargs)

        await upload(call, args, body, parts)


async def upload(call: Any, args: argparse.Namespace, body: bytes, parts: int) -> None:
    key = f"eval-{time.time()}"
    upload_id = (await call("create_multipart_upload", Bucket=args.bucket, Key=key))["UploadId"]
    slots = asyncio.Semaphore(args.in_flight)
    etags: dict[int, str] = {}

    async def one(number: int) -> None:
        async with slots:
            response = await call(
                "upload_part", Bucket=args.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )
            etags[number] = response["ETag"]

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(n) for n in range(1, parts + 1)))
    done = {"Parts": [{"ETag": etags[n], "PartNumber": n} for n in sorted(etags)]}
    await call("complete_multipart_upload", Bucket=args.bucket, Key=key, UploadId=upload_id, MultipartUpload=done)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    size = parts * PART
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.client} checksums={args.checksums} in_flight={args.in_flight}: {size / seconds / 1e6:.0f} MB/s, "
          f"client CPU {cpu / (size / 2**30):.2f} s/GiB, peak RSS {rss:.0f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("endpoint")
    parser.add_argument("bucket")
    parser.add_argument("--client", choices=["boto3", "aiobotocore"], default="boto3")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--in-flight", type=int, default=3)
    parser.add_argument("--checksums", choices=["when_supported", "when_required"], default="when_supported")
    args = parser.parse_args()
    from botocore.config import Config

    config = Config(max_pool_connections=32, request_checksum_calculation=args.checksums)
    run = with_boto3 if args.client == "boto3" else with_aiobotocore
    asyncio.run(run(args, config, os.urandom(PART), args.size_mib * 1024 * 1024 // PART))


if __name__ == "__main__":
    main()
