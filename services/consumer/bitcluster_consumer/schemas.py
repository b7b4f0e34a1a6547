"""Request and response bodies of ``POST /v1/classify``, and its query and header parameters.

Validation is strict: ``"bits": "16"``, ``"posteriors": 0`` or ``?posteriors=1`` is refused (422),
never coerced. What depends on the served model (its id, its code length, the exact base64 shape of
its codes) is checked by the route and written into the OpenAPI document by :func:`classify_contract`.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from bitcluster.core.novelty import DEFAULT_RATE, check_rate
from bitcluster.core.wire import CODE_BITS_HEADER, COUNT_HEADER, MAX_HEADER_DIGITS, MODEL_ID_HEADER
from bitcluster.serving.docs.patterns import BASE64_PATTERN


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model_id: str = Field(..., description="The model_id the vendor returned with the codes; another "
                                           "model's is refused with 409.")
    # The count is checked by the route (422 empty_batch, 413 batch_too_large); the schema says it too.
    codes: list[str] = Field(..., description="Base64 of each packed code, ceil(D / 8) bytes, MSB first, "
                                              "padding bits clear.",
                             json_schema_extra={"minItems": 1, "items": {"type": "string", "minLength": 4,
                                                                         "pattern": BASE64_PATTERN}})
    bits: int | None = Field(None, description="Code length D, checked against the model when given.")
    posteriors: bool = Field(False, description="Also return the posterior over clusters of each code (as "
                                                "does ?posteriors=true: either asking is enough).")
    log_likelihood: bool = Field(False, description="Also return log p(z), each code's log-likelihood in nats "
                                                    "under the model's Bernoulli mixture.")
    novel: bool = Field(False, description="Also flag the codes less likely than the training codes' `rate` "
                                           "quantile (about `rate` of training-like codes are flagged).")
    rate: float | None = Field(None, gt=0, lt=1, description="The novelty rate in (0, 1), with novel "
                                                             "(ignored without it); default 0.01. It takes "
                                                             "precedence over a rate in the query.")


class ClassifyResponse(BaseModel):
    model_id: str
    clusters: list[int] = Field(..., description="The most probable cluster of each code.")
    posteriors: list[list[float]] | None = Field(None, description="(N, K) posteriors, when asked for.")
    log_likelihood: list[float] | None = Field(None, description="(N,) log p(z) in nats, when asked for.")
    novel: list[bool] | None = Field(None, description="(N,) whether each code is novel, when asked for.")


def true_or_false(value: object) -> bool:
    """A boolean query parameter as the document declares it: ``true`` or ``false``, nothing coerced."""
    if value in ("true", "false", True, False):
        return value in ("true", True)
    raise ValueError("must be 'true' or 'false'")


_DIGITS = re.compile(r"[0-9]{1,%d}" % MAX_HEADER_DIGITS)
# Header values are text: integers are declared as the digits the route parses (no sign, no space,
# at most MAX_HEADER_DIGITS of them). Errors in headers are answered 422 invalid_header.
DIGITS_SCHEMA = {"type": "string", "pattern": f"^[0-9]{{1,{MAX_HEADER_DIGITS}}}$"}


def header_digits(value: object) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise ValueError(f"must be a non-negative integer of at most {MAX_HEADER_DIGITS} digits")
    return int(value)


Flag = Annotated[bool, BeforeValidator(true_or_false)]
HeaderDigits = Annotated[int | None, BeforeValidator(header_digits), WithJsonSchema(DIGITS_SCHEMA)]


class ClassifyQuery(BaseModel):
    """The query parameters: outputs to return beside the clusters (a JSON body may ask for them too)."""

    posteriors: Flag = Field(False, description=(
        "Also return the (N, K) posteriors (then the answer is JSON): 'true' or 'false'. It may be sent with the "
        "JSON body's posteriors too: posteriors come back when either asks for them ('false' in one does not "
        "cancel 'true' in the other)."))
    log_likelihood: Flag = Field(False, description=(
        "Also return each code's log p(z) in nats under the model's Bernoulli mixture (then the answer is JSON): "
        "'true' or 'false'. 422 output_unavailable for a model exported without it."))
    novel: Flag = Field(False, description=(
        "Also flag each code whose log-likelihood is below the training codes' rate quantile (then the answer is "
        "JSON): 'true' or 'false'. 422 novelty_unavailable for a model exported without the training codes' "
        "scores."))
    rate: Annotated[float, BeforeValidator(check_rate)] = Field(DEFAULT_RATE, gt=0, lt=1, description=(
        "With novel=true: the share of training-like codes flagged, in (0, 1); ignored without novel. A rate in "
        "the body takes precedence over this one."))


class CodeHeaders(BaseModel):
    """The headers that say where codes come from; required with a binary body, checked with any body."""

    model_id: Annotated[str | None, WithJsonSchema({"type": "string"})] = Field(
        None, alias=MODEL_ID_HEADER, description=(
            "Required with a binary body: the model_id the vendor returned with the codes (409 for another "
            "model's). A JSON body names it as model_id; sent with one, it is checked too."))
    code_bits: HeaderDigits = Field(None, alias=CODE_BITS_HEADER, description=(
        "Required with a binary body: the code length D (checked with any body when sent)."))
    count: HeaderDigits = Field(None, alias=COUNT_HEADER, description=(
        "Optional: the number of codes, checked against the body when sent (422)."))


CODE_HEADER_NAMES = (MODEL_ID_HEADER, CODE_BITS_HEADER, COUNT_HEADER)
