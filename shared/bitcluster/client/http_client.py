"""A Python client of both services: images -> vendor -> packed codes -> consumer -> clusters.

Codes travel as ``application/octet-stream`` (``ceil(D / 8)`` bytes per image, plus three
headers), the format the consumer checks most strictly. Encoding and classifying are pure
functions of their input, so both are retried on connection errors and 503 with exponential
backoff, a bounded number of times. Needs ``httpx`` (in the vendor and consumer extras).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence, Union

import httpx
import numpy as np

from bitcluster.core.codes import codes_from_bytes

OCTET = "application/octet-stream"
ENTROPY_CODED = "application/x-bitcluster-entropy-coded"  # bitcluster.core.entropy_coding.MEDIA_TYPE
# An image is a (H, W) array inside an (N, H, W) batch, or an encoded PNG/JPEG file (bytes or path).
ImageFiles = Sequence[Union[bytes, str, Path]]
RETRY_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError)


class BitclusterError(RuntimeError):
    """A service refused a request; ``code`` is the service's error code (e.g. ``batch_too_large``)."""

    def __init__(self, status: int, code: str, message: str, url: str):
        super().__init__(f"{url} answered {status} {code}: {message}")
        self.status, self.code, self.message, self.url = status, code, message, url


class ModelMismatchError(BitclusterError):
    """The vendor and the consumer serve different models: their codes cannot be compared."""


class BitclusterClient:
    """Talk to a vendor and a consumer service.

    Parameters
    ----------
    vendor_url, consumer_url : base URLs, e.g. ``http://127.0.0.1:8001``
    api_key : bearer key when the services require one
    batch_size : images or codes per request (the services accept 8192 by default)
    max_attempts : tries per request on connection errors and 503, backing off 0.2 s, 0.4 s, ...
    transport : an httpx transport to use instead of the network (tests)
    """

    def __init__(self, vendor_url: str | None, consumer_url: str | None, api_key: str | None = None, *,
                 timeout: float = 60.0, batch_size: int = 1024, max_attempts: int = 5, backoff_s: float = 0.2,
                 transport: httpx.BaseTransport | None = None):
        self.vendor_url = vendor_url.rstrip("/") if vendor_url else None
        self.consumer_url = consumer_url.rstrip("/") if consumer_url else None
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(timeout=timeout, headers=headers, transport=transport)

    def __enter__(self) -> "BitclusterClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- plumbing ---------------------------------------------------------------------------
    def _request(self, method: str, url: str, **kwargs) -> httpx.Response:
        """Send, retrying connection errors and 503 with exponential backoff; raise on any error status."""
        for attempt in range(self.max_attempts):
            last = attempt == self.max_attempts - 1
            try:
                response = self._http.request(method, url, **kwargs)
            except RETRY_ERRORS:
                if last:
                    raise
                time.sleep(self.backoff_s * 2 ** attempt)
                continue
            if response.status_code == 503 and not last:
                retry_after = response.headers.get("retry-after", "")
                delay = float(retry_after) if retry_after.isdigit() else self.backoff_s * 2 ** attempt
                time.sleep(min(delay, 10.0))
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response
        raise AssertionError("unreachable")

    def _url(self, base: str | None, path: str) -> str:
        if base is None:
            raise ValueError(f"this client was made without the URL of the service behind {path}")
        return base + path

    # -- the API ----------------------------------------------------------------------------
    def vendor_model(self) -> dict:
        return self._request("GET", self._url(self.vendor_url, "/v1/model")).json()

    def consumer_model(self) -> dict:
        return self._request("GET", self._url(self.consumer_url, "/v1/model")).json()

    def encode(self, images: np.ndarray | ImageFiles) -> tuple[str, int, np.ndarray]:
        """Encode images at the vendor.

        Parameters
        ----------
        images : (N, H, W) array, uint8 0..255 or float in [0, 1]; or a list of PNG/JPEG files
            (bytes or paths), of any sizes

        Returns
        -------
        model_id, bits, packed codes (N, ceil(bits / 8)) uint8
        """
        url = self._url(self.vendor_url, "/v1/encode")
        model_id, bits, chunks = None, None, []
        for start in range(0, len(images), self.batch_size):
            batch = images[start:start + self.batch_size]
            if isinstance(batch, np.ndarray):
                body = {"content": json.dumps({"pixels": batch.tolist()}).encode(),
                        "headers": {"Content-Type": "application/json", "Accept": OCTET}}
            else:
                files = [("files", (f"{start + i}", _read_file(f), OCTET)) for i, f in enumerate(batch)]
                body = {"files": files, "headers": {"Accept": OCTET}}
            response = self._request("POST", url, **body)
            got_id, got_bits = response.headers["X-Model-Id"], int(response.headers["X-Code-Bits"])
            if model_id is not None and (got_id, got_bits) != (model_id, bits):
                raise ModelMismatchError(409, "model_changed", f"the vendor switched from model {model_id} to "
                                                              f"{got_id} during the request; retry", url)
            model_id, bits = got_id, got_bits
            packed = codes_from_bytes(response.content, bits)
            if len(packed) != len(batch):
                raise BitclusterError(502, "bad_response", f"sent {len(batch)} images, got {len(packed)} codes", url)
            chunks.append(packed)
        if not chunks:
            raise ValueError("no images to encode")
        return model_id, bits, np.concatenate(chunks)

    def classify(self, model_id: str, bits: int, packed: np.ndarray) -> np.ndarray:
        """Assign packed codes (N, ceil(bits / 8)) uint8 to clusters at the consumer; returns (N,) int64."""
        url = self._url(self.consumer_url, "/v1/classify")
        packed = np.ascontiguousarray(packed, dtype=np.uint8)
        if len(packed) == 0:
            raise ValueError("no codes to classify")
        out = []
        for start in range(0, len(packed), self.batch_size):
            batch = packed[start:start + self.batch_size]
            headers = {"Content-Type": OCTET, "X-Model-Id": model_id, "X-Code-Bits": str(bits),
                       "X-Count": str(len(batch))}
            out.append(self._request("POST", url, content=batch.tobytes(), headers=headers).json()["clusters"])
        return np.concatenate([np.asarray(c, dtype=np.int64) for c in out])

    def cluster(self, images: np.ndarray | ImageFiles) -> np.ndarray:
        """Images -> vendor -> consumer -> (N,) int64 clusters."""
        model_id, bits, packed = self.encode(images)
        try:
            return self.classify(model_id, bits, packed)
        except ModelMismatchError as e:
            raise ModelMismatchError(e.status, e.code, f"the vendor serves model {model_id} but the consumer "
                                                       f"refused it: {e.message}", e.url) from None

    def cluster_entropy_coded(self, images: np.ndarray) -> tuple[np.ndarray, int]:
        """The round trip with the entropy-coded format: the vendor's stream goes to the consumer as is.

        Returns the (N,) int64 clusters and the bytes of code that crossed from vendor to consumer.
        """
        vendor_url = self._url(self.vendor_url, "/v1/encode")
        consumer_url = self._url(self.consumer_url, "/v1/classify")
        out, wire_bytes = [], 0
        for start in range(0, len(images), self.batch_size):
            batch = np.asarray(images[start:start + self.batch_size])
            coded = self._request("POST", vendor_url, content=json.dumps({"pixels": batch.tolist()}).encode(),
                                  headers={"Content-Type": "application/json", "Accept": ENTROPY_CODED})
            headers = {"Content-Type": ENTROPY_CODED, **{k: coded.headers[k] for k in
                                                          ("X-Model-Id", "X-Code-Bits", "X-Count")}}
            wire_bytes += len(coded.content)
            out.append(self._request("POST", consumer_url, content=coded.content, headers=headers).json()["clusters"])
        if not out:
            raise ValueError("no images to cluster")
        return np.concatenate([np.asarray(c, dtype=np.int64) for c in out]), wire_bytes


def _read_file(f: bytes | str | Path) -> bytes:
    return f if isinstance(f, bytes) else Path(f).read_bytes()


def _error(response: httpx.Response) -> BitclusterError:
    try:
        detail = response.json()["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", response.text[:200] or response.reason_phrase
    cls = ModelMismatchError if response.status_code == 409 or code == "model_mismatch" else BitclusterError
    return cls(response.status_code, code, message, str(response.request.url))
