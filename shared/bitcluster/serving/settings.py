"""Service configuration read from the environment (``BITCLUSTER_*``) or given to ``create_app``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The model shipped inside the package, served when no --model-dir is given (re-exported for the CLI).
from bitcluster.core.manifest import DEFAULT_MODEL_DIR


class ServiceSettings(BaseSettings):
    """What both services are configured with. Each service subclasses it.

    Every field can be set from the environment as ``BITCLUSTER_<FIELD>``, e.g.
    ``BITCLUSTER_MODEL_DIR=/model`` or ``BITCLUSTER_API_KEY=...``.
    """

    model_config = SettingsConfigDict(env_prefix="BITCLUSTER_", extra="ignore")

    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="Exported model directory (or just this half of it).")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_batch: int = Field(8192, ge=1, description="Most images or codes in one request.")
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1, description="Largest request body, checked before parsing.")
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="Most pixels (H * W) of one image.")
    request_timeout_s: float = Field(30.0, gt=0, description="Deadline of the work of one request.")
    shutdown_timeout_s: float = Field(10.0, ge=0, description="Grace period for in-flight requests on SIGTERM.")
    intra_op_threads: int = Field(0, ge=0, description="ONNX Runtime threads per inference (0: the container's "
                                                       "CPU quota from cgroups, else the CPUs it may run on).")
    api_key: SecretStr | None = Field(None, description="When set, every endpoint but /healthz needs "
                                                        "'Authorization: Bearer <key>'.")
    log_level: str = "info"

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_no_key(cls, v: object) -> object:
        # docker compose passes an unset ${BITCLUSTER_API_KEY:-} as "": that means no key, not "".
        return None if v == "" else v
