"""The resumable tus client behind `tusserver upload`, usable from Python:

from tusserver.client import UploadOptions, upload_file
url = upload_file("video.mp4", "https://uploads.example.com/files/", UploadOptions(token=token))
"""

from __future__ import annotations

from .errors import UploadError
from .options import UploadOptions
from .uploader import upload_file

__all__ = ["UploadError", "UploadOptions", "upload_file"]
