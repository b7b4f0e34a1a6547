"""Service configuration read from the environment (``BITCLUSTER_*``) or given to ``create_app``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The model shipped inside the package, served when no --model-dir is given (re-exported for the CLI).
from bitcluster.core.manifest import DEFAULT_MODEL_DIR
from bitcluster.serving.auth import key_policy, normalized_key


class ServiceSettings(BaseSettings):
    """What both services are configured with. Each service subclasses it.

    Every field can be set from the environment as ``BITCLUSTER_<FIELD>``, e.g.
    ``BITCLUSTER_MODEL_DIR=/model`` or ``BITCLUSTER_API_KEY=...``.
    """

    model_config = SettingsConfigDict(env_prefix="BITCLUSTER_", extra="ignore")

    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="Exported model directory (or just this half of it).")
    expected_model_id: str | None = Field(None, description="The model_id the service must serve: it refuses to "
                                                            "start when model_dir holds another model.")
    host: str = "127.0.0.1"
    published_host: str | None = Field(None, description="Where clients reach the service when that differs from "
                                                         "host: a container listens on 0.0.0.0 but its port may be "
                                                         "published on the host's loopback only. The rule for "
                                                         "running without a key reads this address when set.")
    port: int = Field(8000, ge=0, le=65535)
    max_batch: int = Field(8192, ge=1, description="Most images or codes in one request.")
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1, description="Largest request body, checked before parsing.")
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="Most pixels (H * W) of one image.")
    request_timeout_s: float = Field(30.0, gt=0, description="Deadline of the work of one request.")
    shutdown_timeout_s: float = Field(10.0, ge=0, description="Grace period for in-flight requests on SIGTERM.")
    intra_op_threads: int = Field(0, ge=0, description="ONNX Runtime threads per inference (0: the container's "
                                                       "CPU quota from cgroups, else the CPUs it may run on).")
    api_key: SecretStr | None = Field(None, description="When set, every endpoint but the health probes needs "
                                                        "'Authorization: Bearer <key>' (surrounding whitespace "
                                                        "is stripped from both).")
    api_key_file: Path | None = Field(None, description="A file holding the API key (e.g. a mounted secret; "
                                                        "its trailing newline is stripped), instead of API_KEY.")
    allow_no_key: bool = Field(False, description="Serve without an API key on a non-loopback host (refused "
                                                  "otherwise, and logged as a warning when allowed).")
    log_level: str = "info"

    @field_validator("api_key", mode="before")
    @classmethod
    def _stripped_key(cls, v: object) -> object:
        # docker compose passes an unset ${BITCLUSTER_API_KEY:-} as "": no key, which key_policy then
        # refuses on a non-loopback host. A key of blanks only is a mistake, not "no key".
        if isinstance(v, SecretStr):
            v = v.get_secret_value()
        return None if v == "" else normalized_key(v) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _key_file_and_policy(self) -> "ServiceSettings":
        if self.api_key_file is not None:
            if self.api_key is not None:
                raise ValueError("set BITCLUSTER_API_KEY or BITCLUSTER_API_KEY_FILE, not both")
            try:
                key = self.api_key_file.read_text()
            except OSError as e:
                raise ValueError(f"cannot read the API key file: {e}") from e
            self.api_key = SecretStr(normalized_key(key))
        self.key_policy()  # raises when a non-loopback host has no key and no allow_no_key
        return self

    def key_policy(self) -> tuple[int, str]:
        """The log level and line saying how the service is protected (:func:`~bitcluster.serving.auth.key_policy`)."""
        return key_policy(self.published_host or self.host, self.api_key is not None, self.allow_no_key)
