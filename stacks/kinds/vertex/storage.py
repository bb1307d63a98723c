"""Cloud Storage for one Vertex stack: its own client (project, credentials, endpoint), never the process's.

The control plane reads a run's outputs through it (the API's download, the cache) and deletes them
when runs are pruned; google-cloud-storage is imported only when a stack first needs it.
"""

from __future__ import annotations

from typing import IO, Any


def split(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://"):
        raise ValueError(f"{uri!r} is not a gs:// URI")
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    if not bucket or not name:
        raise ValueError(f"{uri!r} names no object")
    return bucket, name


class StackStorage:
    def __init__(self, project_id: str | None, credentials: Any = None, endpoint: str | None = None) -> None:
        self.project_id = project_id
        self.credentials = credentials
        self.endpoint = endpoint
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            from google.cloud import storage

            options: dict[str, Any] = {"project": self.project_id, "credentials": self.credentials}
            if self.endpoint:
                options["client_options"] = {"api_endpoint": self.endpoint}
                if self.endpoint.startswith("http://") and self.credentials is None:
                    from google.auth.credentials import AnonymousCredentials

                    # A local endpoint (a test server): no Google credential lookup.
                    options["credentials"] = AnonymousCredentials()
            self._client = storage.Client(**options)
        return self._client

    def open(self, uri: str) -> IO[bytes]:
        """A reader that fetches the object in chunks, so a large artifact is never held whole."""
        from google.api_core.exceptions import NotFound

        bucket, name = split(uri)
        blob = self.client().bucket(bucket).blob(name)
        try:
            blob.reload()  # a missing object is found out here, not halfway through a response
        except NotFound:
            raise FileNotFoundError(uri) from None
        return blob.open("rb")

    def read(self, uri: str) -> bytes:
        from google.api_core.exceptions import NotFound

        bucket, name = split(uri)
        try:
            return self.client().bucket(bucket).blob(name).download_as_bytes()
        except NotFound:
            raise FileNotFoundError(uri) from None

    def write(self, uri: str, data: bytes) -> None:
        bucket, name = split(uri)
        self.client().bucket(bucket).blob(name).upload_from_string(data)

    def delete(self, uri: str) -> None:
        """Delete the object; one already gone is deleted."""
        from google.api_core.exceptions import NotFound

        bucket, name = split(uri)
        try:
            self.client().bucket(bucket).blob(name).delete()
        except NotFound:
            pass
