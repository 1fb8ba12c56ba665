"""`tusserver upload FILE... --endpoint URL`: exit 0 only when the server has stored every file whole.

Exit status: 0 all stored; 1 an upload failed (network, server refusal, retries exhausted);
2 bad arguments; 3 the token was refused and none could be had; 4 the server kept rejecting the
bytes as corrupt (460) or discarded the file as not matching its digest.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from .dialect import Dialect
from .errors import UploadError
from .options import UploadOptions, default_resume_file, parse_size
from .session import TokenHolder
from .uploader import Uploader

CHECKSUMS = ("sha1", "md5", "sha256", "sha512", "crc32")


def _size(value: str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _metadata(value: str) -> tuple[str, str]:
    key, sep, text = value.partition("=")
    if not sep or not key or " " in key or "," in key:
        raise argparse.ArgumentTypeError(f"--metadata wants key=value, got {value!r}")
    return key, text


def _resume_default() -> str:
    path = str(default_resume_file())
    home = str(Path.home())
    return "~" + path[len(home) :] if path.startswith(home + "/") else path


def add_upload_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "upload",
        help="upload files resumably",
        description=__doc__,
        epilog="SIZE: bytes, or with a suffix K, M, G, T (powers of 1024): 512K, 8M, 10G.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="files to upload; each URL is printed when stored")
    parser.add_argument(
        "--endpoint", required=True, metavar="URL", help="creation URL, e.g. http://127.0.0.1:1080/files/"
    )
    parser.add_argument(
        "--token", default=os.environ.get("TUSSERVER_TOKEN"), metavar="JWT",
        help="bearer token for the first request [default none; env TUSSERVER_TOKEN]",
    )  # fmt: skip
    parser.add_argument(
        "--token-command", metavar="CMD",
        help="shell command printing a fresh token (pipes allowed), run at start without --token and whenever "
        "a token is refused [default none]",
    )  # fmt: skip
    parser.add_argument("--chunk-size", type=_size, default=8 * 1024 * 1024, metavar="SIZE",
                        help="bytes per PATCH [default 8M]")  # fmt: skip
    parser.add_argument("--parallel", type=int, default=1, metavar="N",
                        help="N partial uploads at once, merged by concatenation [default 1]")  # fmt: skip
    parser.add_argument("--checksum", choices=CHECKSUMS, help="send Upload-Checksum with every PATCH [default none]")
    parser.add_argument("--metadata", type=_metadata, action="append", default=[], metavar="KEY=VALUE",
                        help="Upload-Metadata entry, repeatable (filename is always sent)")  # fmt: skip
    parser.add_argument("--dedup", action="store_true", help="send Repr-Digest: skip files the server already has")
    parser.add_argument("--limit-rate", type=_size, metavar="SIZE",
                        help="cap on bytes per second for the whole upload, all parts together, like curl's "
                        "(512K, 4M) [default none]")  # fmt: skip
    parser.add_argument("--retries", type=int, default=8, metavar="N",
                        help="retries per request, with growing back-off, before giving up [default 8]")  # fmt: skip
    parser.add_argument("--resume-file", type=Path, metavar="FILE",
                        help=f"where interrupted uploads are remembered [default {_resume_default()}]")  # fmt: skip
    parser.add_argument("--no-resume", action="store_true", help="always start new uploads")
    parser.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="extra request header, repeatable")  # fmt: skip
    parser.add_argument("--cacert", type=Path, metavar="FILE",
                        help="trust the CA certificates in this PEM file (a self-signed or private CA), like curl's; "
                        "SSL_CERT_FILE does the same for every program [default the system's]")  # fmt: skip
    parser.add_argument("--insecure", "-k", action="store_true",
                        help="do not check the server's TLS certificate, like curl's (tests only)")  # fmt: skip
    parser.add_argument("--protocol", choices=("tus", "ietf"), default="tus",
                        help="tus 1.0, or the IETF draft Resumable Uploads for HTTP (interop 8) "
                        "[default tus]")  # fmt: skip
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress or summary on stderr")
    parser.set_defaults(func=run)


def check_endpoint(endpoint: str) -> str | None:
    """Why `endpoint` cannot be a creation URL, or None: said at once, not after a minute of retries."""
    url = urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.netloc:
        return f"--endpoint must be an http:// or https:// URL, e.g. http://{endpoint or '127.0.0.1:1080/files/'}"
    return None


def dedup_hint(options: UploadOptions) -> str | None:
    """--dedup without a token: a server without auth has instant upload off unless told otherwise."""
    if options.dedup and not (options.token or options.token_command):
        return (
            "--dedup without a token: a tusserver without auth has instant upload off "
            "(--instant-upload auto), so the digest is only verified; nothing is skipped"
        )
    return None


def run(args: argparse.Namespace) -> int:
    if args.parallel < 1 or args.chunk_size < 1:
        print("tusserver upload: --parallel and --chunk-size must be positive", file=sys.stderr)
        return 2
    problem = check_endpoint(args.endpoint)
    if problem is None and args.cacert is not None and not args.cacert.is_file():
        problem = f"--cacert {args.cacert}: no such file"
    if problem is not None:
        print(f"tusserver upload: {problem}", file=sys.stderr)
        return 2
    conflict = Dialect(args.protocol).check(args.parallel, args.checksum)
    if conflict:
        print(f"tusserver upload: {conflict}", file=sys.stderr)
        return 2
    headers = {}
    for raw in args.header:
        name, _, value = raw.partition(":")
        headers[name.strip()] = value.strip()
    options = UploadOptions(
        token=args.token,
        token_command=args.token_command,
        chunk_size=args.chunk_size,
        parallel=args.parallel,
        checksum=args.checksum,
        metadata=dict(args.metadata),
        dedup=args.dedup,
        limit_rate=args.limit_rate,
        retries=args.retries,
        resume_file=args.resume_file,
        resume=not args.no_resume,
        headers=headers,
        cacert=args.cacert,
        insecure=args.insecure,
        protocol=args.protocol,
    )
    hint = dedup_hint(options)
    if hint is not None and not args.quiet:
        print(f"tusserver upload: {hint}", file=sys.stderr)
    try:
        tokens = TokenHolder(options.token, options.token_command)
    except UploadError as exc:
        print(f"tusserver upload: {exc.message}", file=sys.stderr)
        return exc.exit_code
    status = 0
    for path in args.files:
        if not os.path.isfile(path):
            why = "is a directory (name the files in it: DIR/*)" if os.path.isdir(path) else "no such file"
            print(f"tusserver upload: {path}: {why}", file=sys.stderr)
            status = status or 2
            continue
        try:
            uploader = Uploader(path, args.endpoint, options, tokens, args.quiet)
            url = uploader.run()
        except UploadError as exc:
            print(f"tusserver upload: {path}: {exc.message}", file=sys.stderr)
            status = status or exc.exit_code
            continue
        except KeyboardInterrupt:
            print(f"tusserver upload: {path}: interrupted; run the same command again to resume", file=sys.stderr)
            return 130
        tokens = uploader.tokens  # the newest token carries over to the next file
        print(url, flush=True)
    return status
