"""A Python client of both services: images -> vendor -> packed codes -> consumer -> clusters.

Codes travel as ``application/octet-stream`` (``ceil(D / 8)`` bytes per image, plus the headers
of :mod:`bitcluster.core.wire`), the format the consumer checks most strictly. Every request is
retried under one :class:`~bitcluster.client.retry.RetryPolicy` while its service is unavailable.
Needs ``httpx`` (in the vendor and consumer extras).
"""

from __future__ import annotations

import json
import warnings
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

import httpx
import numpy as np

from bitcluster.api.codes import Codes, CodesLike, packed_codes_of
from bitcluster.api.images import ImageGroup, Images, image_groups
from bitcluster.client.errors import BitclusterError, ModelMismatchError
from bitcluster.client.retry import RetryPolicy, with_retries
from bitcluster.core.channels import ChannelConversionWarning, conversion_message
from bitcluster.core.codes import codes_from_bytes
from bitcluster.core.novelty import DEFAULT_RATE
from bitcluster.core.wire import (CODE_BITS_HEADER, CONVERSION_HEADER, CONVERTED_HEADER, COUNT_HEADER, ENTROPY_CODED,
                                  JSON, MODEL_ID_HEADER, OCTET_STREAM, code_headers, json_rows_per_request)

# The vendor's code for a batch over its request budget: split, it may pass.
REQUEST_TOO_LARGE = "request_too_large"
# A few quick tries: a person is waiting. A batch job passes its own, longer policy.
INTERACTIVE_RETRY = RetryPolicy(retry_for_s=30.0, max_attempts=5)


class BitclusterClient:
    """Talk to a vendor and a consumer service.

    Parameters
    ----------
    vendor_url, consumer_url : base URLs, e.g. ``http://127.0.0.1:8001``
    api_key : bearer key when the services require one
    batch_size : images or codes per request (the services accept 8192 by default); a batch of images over
        the vendor's request budget (``BITCLUSTER_MAX_REQUEST_PIXELS``) is sent again in halves, and the
        size the vendor then accepted bounds this client's later requests: ``vendor_batch_limit``
    retry : when to retry a request whose service is unavailable; giving up raises
        :class:`~bitcluster.client.retry.RetriesExhausted`
    on_retry : told of each retry (a message for a person); ``retries`` counts them
    resize : ask the vendor to stretch images of another aspect ratio too (``encode`` may override)

    ``converted`` counts the images the vendor converted between grey and RGB to match its model
    (each ``encode`` that had some also warns, :class:`~bitcluster.core.channels.ChannelConversionWarning`).
    transport : an httpx transport to use instead of the network (tests)
    """

    def __init__(self, vendor_url: str | None, consumer_url: str | None, api_key: str | None = None, *,
                 timeout: float = 60.0, batch_size: int = 1024, retry: RetryPolicy = INTERACTIVE_RETRY,
                 on_retry: Callable[[str], None] | None = None, resize: bool = False,
                 transport: httpx.BaseTransport | None = None):
        self.vendor_url = vendor_url.rstrip("/") if vendor_url else None
        self.consumer_url = consumer_url.rstrip("/") if consumer_url else None
        self.batch_size = batch_size
        self.retry = retry
        self.on_retry = on_retry
        self.retries = 0
        self.converted = 0
        self.resize = resize
        self.vendor_batch_limit: int | None = None
        self._limit_model_id: str | None = None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(timeout=timeout, headers=headers, transport=transport)

    def __enter__(self) -> "BitclusterClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- plumbing ---------------------------------------------------------------------------
    def _request(self, service: str, method: str, path: str, **kwargs) -> httpx.Response:
        """Send to ``service`` ("vendor" or "consumer") under the retry policy; raise on any error status."""
        base = self.vendor_url if service == "vendor" else self.consumer_url
        if base is None:
            raise ValueError(f"this client was made without the URL of the {service} (needed for {path})")

        def send() -> httpx.Response:
            response = self._http.request(method, base + path, **kwargs)
            if response.status_code >= 400:
                raise _error(response)
            return response

        response, retries = with_retries(send, self.retry, f"the {service} at {base}", self.on_retry)
        self.retries += retries
        return response

    # -- the API ----------------------------------------------------------------------------
    def vendor_model(self) -> dict:
        return self._request("vendor", "GET", "/v1/model").json()

    def consumer_model(self) -> dict:
        return self._request("consumer", "GET", "/v1/model").json()

    def encode(self, images: Images, *, resize: bool | None = None) -> Codes:
        """Encode images at the vendor.

        Parameters
        ----------
        images : grey (N, H, W) or (H, W), or RGB (N, H, W, 3) or (H, W, 3) array, uint8 0..255 or
            float in [0, 1]; a PNG/JPEG file (path or bytes); or a list of those (what
            :meth:`bitcluster.api.model.Model.encode` takes). Images of the other kind than the
            vendor's model are converted there, which the vendor says and this method warns of
            (:class:`~bitcluster.core.channels.ChannelConversionWarning`).
        resize : let the vendor also stretch images of another aspect ratio (default: the client's)

        Returns
        -------
        Codes: packed (N, ceil(bits / 8)) uint8, with the vendor's ``bits`` and ``model_id``
        """
        resize = self.resize if resize is None else resize
        model_id, bits, chunks = None, None, []
        converted, conversion = 0, None
        send = partial(self._post_images, accept=OCTET_STREAM, resize=resize)
        for group in image_groups(images):
            for batch, response in self._vendor_batches(group, send):
                got_id, got_bits = response.headers[MODEL_ID_HEADER], int(response.headers[CODE_BITS_HEADER])
                if model_id is not None and (got_id, got_bits) != (model_id, bits):
                    raise ModelMismatchError(409, "model_changed", f"the vendor switched from model "
                                             f"{model_id} to {got_id} during the request; retry", self.vendor_url)
                model_id, bits = got_id, got_bits
                packed = codes_from_bytes(response.content, bits)
                if len(packed) != len(batch):
                    raise BitclusterError(502, "bad_response", f"sent {len(batch)} images, got {len(packed)} codes",
                                          str(response.url))
                chunks.append(packed)
                if CONVERTED_HEADER in response.headers:
                    converted += int(response.headers[CONVERTED_HEADER])
                    conversion = response.headers[CONVERSION_HEADER]
        packed = np.concatenate(chunks)
        if converted:
            self.converted += converted
            warnings.warn(f"the vendor at {self.vendor_url}: {conversion_message(converted, len(packed), conversion)}",
                          ChannelConversionWarning, stacklevel=2)
        return Codes(packed, bits, model_id)

    def _vendor_batches(self, group: ImageGroup, send: Callable[[ImageGroup, int], httpx.Response]
                        ) -> Iterator[tuple[ImageGroup, httpx.Response]]:
        """Send ``group`` to the vendor in order, one ``send(batch, start)`` request per batch, and yield each
        batch the vendor accepted with its answer.

        A batch holds at most ``batch_size`` images, and of pixels at most what one JSON request may
        carry. The vendor bounds what one request may make it hold (``BITCLUSTER_MAX_REQUEST_PIXELS``):
        the model input the batch becomes, N * height * width * channels values, and the pixels its
        files declare. That budget is the vendor's setting, unknown here, so a batch the vendor refuses
        as 413 ``request_too_large`` is sent again as its first half, halved while refused, and the size
        it accepted becomes :attr:`vendor_batch_limit`: every later request of this client holds at most
        that many images, so a large model costs the refused uploads once, not once per batch. The limit
        never grows again (what a request costs depends on its files' sizes, which the client does not
        read: a larger batch would be a guess paid for by a refused upload); it is forgotten when the
        vendor answers with another model, whose input has another size.

        A single image over the budget raises the vendor's refusal; any refusal names the images by
        their place in ``group``.
        """
        most = self.batch_size
        if isinstance(group, np.ndarray):  # sent as JSON numbers: within the vendor's bound on them
            most = min(most, json_rows_per_request(*group.shape[1:]))
        start, smaller = 0, None  # smaller: the size to try after a refusal
        while start < len(group):
            n = smaller or min(most, self.vendor_batch_limit or most, len(group) - start)
            batch = group[start:start + n]
            try:
                response = send(batch, start)
            except BitclusterError as e:
                if e.status != 413 or e.code != REQUEST_TOO_LARGE or n < 2:
                    raise e.items_from(start) from None
                smaller = n // 2
                continue
            model_id = response.headers.get(MODEL_ID_HEADER)
            if smaller:
                self.vendor_batch_limit, self._limit_model_id = n, model_id
            elif self.vendor_batch_limit is not None and model_id != self._limit_model_id:
                self.vendor_batch_limit = self._limit_model_id = None
            smaller = None
            yield batch, response
            start += n

    def _post_images(self, batch: ImageGroup, start: int, *, accept: str, resize: bool = False) -> httpx.Response:
        """``POST /v1/encode`` of an (n, H, W[, 3]) pixel batch as JSON, or of image files as a multipart form
        (named by their place ``start + i`` in the group), answered as ``accept``."""
        if isinstance(batch, np.ndarray):
            body = {"content": json.dumps({"pixels": batch.tolist()}).encode(),
                    "headers": {"Content-Type": JSON, "Accept": accept}}
        else:
            files = [("files", (f"{start + i}", _read_file(f), OCTET_STREAM)) for i, f in enumerate(batch)]
            body = {"files": files, "headers": {"Accept": accept}}
        return self._request("vendor", "POST", "/v1/encode", params={"resize": "true"} if resize else None, **body)

    def classify(self, codes: CodesLike) -> np.ndarray:
        """Assign codes to clusters at the consumer; returns (N,) int64.

        ``codes`` are :class:`~bitcluster.api.codes.Codes` (the consumer refuses another model's:
        :class:`~bitcluster.client.errors.ModelMismatchError`), or packed codes alone, taken to be
        of the model the consumer serves.
        """
        return self._classify(codes, "clusters", np.int64)

    def predict_proba(self, codes: CodesLike) -> np.ndarray:
        """Codes -> (N, K) float32 posterior probabilities of the clusters, from the consumer."""
        return self._classify(codes, "posteriors", np.float32, {"posteriors": "true"})

    def score_samples(self, codes: CodesLike) -> np.ndarray:
        """Codes -> (N,) float64 log p(z), each code's log-likelihood in nats under the served model's mixture."""
        return self._classify(codes, "log_likelihood", np.float64, {"log_likelihood": "true"})

    def is_novel(self, codes: CodesLike, rate: float = DEFAULT_RATE) -> np.ndarray:
        """Codes -> (N,) bool: less likely than the served model's training codes' ``rate`` quantile."""
        return self._classify(codes, "novel", bool, {"novel": "true", "rate": repr(float(rate))})

    def _classify(self, codes: CodesLike, output: str, dtype, params: dict | None = None) -> np.ndarray:
        """One ``output`` of ``POST /v1/classify`` for all codes, batch after batch, as (N, ...) ``dtype``."""
        if not isinstance(codes, Codes):
            served = self.consumer_model()
            codes = Codes(packed_codes_of(codes, served["bits"]), served["bits"], served["model_id"])
        if len(codes) == 0:
            raise ValueError("no codes to classify")
        out = []
        for start in range(0, len(codes), self.batch_size):
            batch = codes.packed[start:start + self.batch_size]
            headers = {"Content-Type": OCTET_STREAM, **code_headers(codes.model_id, codes.bits, len(batch))}
            response = self._request("consumer", "POST", "/v1/classify", content=batch.tobytes(), headers=headers,
                                     params=params)
            out.append(np.asarray(response.json()[output], dtype=dtype))
        return np.concatenate(out)

    def cluster(self, images: Images, *, resize: bool | None = None) -> np.ndarray:
        """Images -> vendor -> consumer -> (N,) int64 clusters."""
        codes = self.encode(images, resize=resize)
        try:
            return self.classify(codes)
        except ModelMismatchError as e:
            raise ModelMismatchError(e.status, e.code, f"the vendor serves model {codes.model_id} but the consumer "
                                                       f"refused it: {e.message}", e.url) from None

    def cluster_entropy_coded(self, images: np.ndarray) -> tuple[np.ndarray, int]:
        """The round trip with the entropy-coded format: the vendor's stream goes to the consumer as is.

        ``images`` is a grey (N, H, W) or RGB (N, H, W, 3) pixel batch, sent in batches as :meth:`encode`
        sends them (halved while over the vendor's request budget). Returns the (N,) int64 clusters and
        the bytes of code that crossed from vendor to consumer.
        """
        out, wire_bytes = [], 0
        send = partial(self._post_images, accept=ENTROPY_CODED)
        for _, coded in self._vendor_batches(np.asarray(images), send):
            headers = {"Content-Type": ENTROPY_CODED,
                       **{k: coded.headers[k] for k in (MODEL_ID_HEADER, CODE_BITS_HEADER, COUNT_HEADER)}}
            wire_bytes += len(coded.content)
            response = self._request("consumer", "POST", "/v1/classify", content=coded.content, headers=headers)
            out.append(response.json()["clusters"])
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
    retry_after = response.headers.get("retry-after", "")
    cls = ModelMismatchError if response.status_code == 409 or code == "model_mismatch" else BitclusterError
    return cls(response.status_code, code, message, str(response.request.url),
               float(retry_after) if retry_after.isdigit() else None)
