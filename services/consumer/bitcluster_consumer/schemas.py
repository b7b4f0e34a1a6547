"""Request and response bodies of ``POST /v1/classify``.

Validation is strict: ``"bits": "16"`` or ``"posteriors": 0`` is refused (422), never coerced. What
depends on the served model (its id, its code length, the exact base64 shape of its codes) is
checked by the route and written into the OpenAPI document by :func:`classify_contract`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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
