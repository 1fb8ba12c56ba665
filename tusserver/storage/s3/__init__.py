"""The S3 store: tus uploads as S3 multipart uploads (store.py), the part planner and streaming part
writer (parts.py), upload sets as empty objects (sets.py), botocore errors mapped in one place (errors.py).

`"tusserver.storage.s3:S3Store"` is the registry's (and plug-in authors') name for it, so the store's
public names are re-exported here. Importing this package imports boto3: it is only imported when
`--store s3` is chosen."""

from .errors import map_s3_errors
from .store import S3Config, S3Store, UnfinishedUploadUnreadable

__all__ = ["S3Config", "S3Store", "UnfinishedUploadUnreadable", "map_s3_errors"]
