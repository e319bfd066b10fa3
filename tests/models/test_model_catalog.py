"""The models a person may pick: installed bundled models and what each live provider lists."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from app.model_catalog import ModelCatalog
from app.settings import Settings
from tests.models.anthropic_server import fake_anthropic
from tests.models.ollama_server import fake_ollama
from tests.models.openai_server import fake_openai
from tests.support.local_http import free_port


async def test_every_live_provider_offers_its_models_with_what_they_can_do(
    tmp_path: Path,
) -> None:
    with fake_openai() as openai, fake_anthropic() as anthropic, fake_ollama() as ollama:
        settings = Settings(
            data_dir=tmp_path,
            openai_base_url=openai.url,
            anthropic_api_key=SecretStr("sk-ant-test"),
            anthropic_base_url=anthropic.url,
            ollama_host=ollama.host,
        )
        choices = {c.id: c for c in await ModelCatalog(settings).choices()}

    assert {"openai:test-model", "anthropic:claude-test", "ollama:llama3.2:latest"} <= set(choices)
    assert "local:smollm2" in choices  # the small bundled model is always installed
    assert choices["local:smollm2"].label == (
        "local:smollm2 — Cadre plans for it, 4k context, stays on this machine"
    )
    assert choices["openai:test-model"].label == (
        "openai:test-model — plans with tools, JSON output, requests leave the machine"
    )
    assert choices["ollama:llama3.2:latest"].on_this_machine


async def test_a_provider_that_does_not_answer_is_not_offered(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    settings = Settings(data_dir=tmp_path, openai_base_url=f"{nobody}/v1", ollama_host=nobody)
    catalog = ModelCatalog(settings)

    choices = await catalog.choices()

    assert choices
    assert all(c.id.startswith("local:") for c in choices)
    assert not await catalog.offers("openai:test-model")
    assert await catalog.offers("local:smollm2")
