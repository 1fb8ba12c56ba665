"""Client failures, each with the exit status the CLI returns for it."""

from __future__ import annotations


class UploadError(Exception):
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthError(UploadError):
    """The server refused the token and no new one could be had."""

    exit_code = 3


class IntegrityError(UploadError):
    """The server kept rejecting the bytes as corrupt (460), or the file changed while uploading."""

    exit_code = 4
