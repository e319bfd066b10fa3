from pathlib import Path

import pytest

from agents import Runner
from agents.models.base import ModelOptions
from agents.models.local import LocalModel, LocalModelConfig
from agents.planner import with_results
from agents.roster import WRITER
from tests.agents.agent_helpers import collect

RESULTS = [
    ("Researcher", "The plan replaces our ageing diesel fleet over two years [1]. City routes move to 48 electric vans, leased from Voltera [1]. Long-haul routes keep 12 diesel trucks until electric trucks can cover 600 km [1]. Charging depots are owned by Marta Kask [1]."),
    ("Analyst", "The total number of vehicles to be replaced is 60."),
]
TASKS = [
    "draft a two-line note to the board",
    "write a short email to the team announcing it",
    "draft a LinkedIn post about it",
]


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
async def test_writer(task: str, model_cache: str) -> None:
    config = LocalModelConfig(cache_dir=Path(model_cache), runtime="llama_cpp", device="cpu")
    qwen = LocalModel("qwen2.5-1.5b", config)
    runner = Runner(qwen, options=ModelOptions(max_tokens=200, seed=7))
    events = await collect(runner.stream(WRITER, with_results(task, RESULTS)))
    print("\n=== ", task, "\n", events[-1].output)
