"""The typed recipe every `genrec train` YAML file maps onto.

A recipe names the model family and holds one section per component; each family in
``genrec.families`` brings its own sections (e.g. ``tiger:``), added here from the table.
"""

from __future__ import annotations

from dataclasses import field
from typing import Literal

from genrec.config import bounded, configclass
from genrec.data.prepare import DataConfig
from genrec.decoding.constraints import Scoring
from genrec.families import DEFAULT, FAMILIES, Family, families_that
from genrec.prefs.protocols import protocol
from genrec.recommend.cold_items import ColdItemsConfig
from genrec.rl.srpo import RLConfig
from genrec.text.encoder import EncoderConfig


@configclass
class TrainConfig:
    """The shared training loop's settings."""

    epochs: int = bounded(200, ge=1)
    batch_size: int = bounded(256, ge=1)
    lr: float = bounded(1e-3, gt=0)
    # "cosine" anneals the learning rate to 0 over `epochs` along a half cosine, so the last
    # epochs average out the noise of a constant rate; "constant" keeps `lr`. Both start with a
    # linear warm-up of `warmup_steps` optimizer steps.
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = bounded(0, ge=0)
    weight_decay: float = bounded(0.0, ge=0)
    # Stop after this many validations without a better validation NDCG@10.
    patience: int = bounded(10, ge=1)
    eval_every: int = bounded(1, ge=1)
    # The gradients' largest norm; 0 turns clipping off.
    grad_clip: float = bounded(1.0, ge=0)
    seed: int = bounded(42, ge=0, le=2**32 - 1)  # numpy's seed range
    # accelerate's mixed precision: "no" on CPU; "bf16" is the safe choice on recent GPUs.
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    # At most this many batches per epoch (null: all), each epoch a fresh random draw of the
    # examples: an epoch (a checkpoint, a validation) then fits a resumable chunk of time even
    # when one pass over the examples would not (an LLM's alignment data on a CPU).
    steps_per_epoch: int | None = bounded(None, ge=1)
    # Batch examples of similar length together when the model's examples carry lengths: the
    # model trims the padding, which is most of a random batch. None: on for the generators and
    # LLM prompts, off for SASRec / BERT4Rec / HSTU, whose next-item windows it made 3x cheaper
    # but worse (Beauty SASRec, 25 epochs: validation NDCG@10 0.0395 vs 0.0455 with random
    # batches; benchmarks/results/esasrec.md).
    bucket_by_length: bool | None = None
    # Force the CPU even when a GPU is visible.
    cpu: bool = False
    # CPU threads of torch and numpy (null: genrec's default, half the cores up to 4); the
    # `genrec --threads N` option and the GENREC_THREADS variable take precedence.
    threads: int | None = bounded(None, ge=1)
    progress: bool = True


@configclass
class EvalConfig:
    """How validation and test are measured (the published protocol by default)."""

    # Cut-offs of Recall@k and NDCG@k; 10 is required, training selects by NDCG@10.
    ks: tuple[int, ...] = bounded((1, 5, 10, 20), ge=1)
    batch_size: int = bounded(1024, ge=1)
    # The published protocol ranks every item, history included; True removes history items.
    exclude_history: bool = False
    # Validate during training on a fixed random sample of this many validation users (None:
    # all). Decoding every user each epoch can cost as much as the epoch itself; the final
    # validation and test evaluations always use every user.
    valid_users: int | None = bounded(None, ge=1)

    def __post_init__(self) -> None:
        if 10 not in self.ks:
            raise ValueError(f"ks {list(self.ks)} must include 10: training selects by NDCG@10")


@configclass
class DecodeConfig:
    """Constrained beam search for generative models (validation, test and serving)."""

    # Wider beams find more of the top-k at linear cost; TIGER's public recipes use 20-30.
    beams: int = bounded(20, ge=1)
    # The network's precision while decoding (training keeps float32). "bfloat16" about halves
    # decoding time on CPUs with AVX512-BF16 / AMX and on GPUs, at slightly different scores.
    precision: Literal["float32", "bfloat16"] = "float32"
    # How an item is scored under the trie: "renormalized" (the softmax of each level over the
    # codes the trie allows) or "raw" (the model's own log-probabilities, masked afterwards, as
    # peers using generate(prefix_allowed_tokens_fn=...) score). benchmarks/scoring.py compares.
    scoring: Scoring = "renormalized"
    # model llm only: "direct" decodes the ID right after the prompt; "reasoning" first writes
    # a free chain of at most `chain_tokens` tokens, then the ID under the trie
    # (genrec.recommend.reasoning; train it with alignment.mix.reasoning > 0).
    mode: Literal["direct", "reasoning"] = "direct"
    chain_tokens: int = bounded(64, ge=0)
    # Items never seen in training (cold.items: text): scored from their text and the model's
    # first-level probabilities, merged into the generated list (genrec.recommend.cold_items).
    cold: ColdItemsConfig = field(default_factory=ColdItemsConfig)


@configclass
class PrefsInputConfig:
    """Preference statements a generator learns to follow: decoder_only and tiger read them as
    vectors, llm as text in its prompts (``llm_tasks.PromptStatements``)."""

    # A folder written by `genrec prefs generate <data> steps=all` for the recipe's data:
    # training reads every step's statements, validation and test those of their targets.
    statements: str | None = None
    # What validation (model selection) and test pass: leak_free, every positive statement of
    # the target's step (the headline), or oracle, the one most similar to the target (an
    # upper bound; describes_target and category look at the target too);
    # genrec.prefs.protocols.PROTOCOLS. The final evaluation also reports the other protocols
    # and no statements.
    protocol: str = "leak_free"
    # Protocols also validated during training (e.g. [describes_target]: statements about the
    # target, which test following); the model is selected on the mean NDCG@10 of protocol
    # and these, so early stopping does not pick an epoch that only fits the history.
    also_valid: tuple[str, ...] = ()
    # Share of training examples without statements, so one model serves requests with and
    # without them (0.3: most examples teach following, enough teach the plain task).
    drop: float = bounded(0.3, ge=0, le=1)
    # Of the examples with statements, the share given the one most similar to the target
    # (Mender's training label); the rest get all positive statements of the step, which is
    # what leak_free passes at test time. Model llm always gets all of them.
    oracle_rate: float = bounded(0.5, ge=0, le=1)
    # Of the examples with statements, the share also given a hindsight statement written from
    # the target itself ("Looking for a booklet stapler"; genrec.prefs.hindsight): the label
    # that teaches following what a user types. 0 (the default before) trains without; > 0
    # makes the model read statements about the next item and about the history apart.
    hindsight: float = bounded(0.0, ge=0, le=1)
    # With hindsight: the share of those examples that keep their step's statements, as
    # context about the history (the leak-free ones the model gets at test time).
    context: float = bounded(1.0, ge=0, le=1)
    # Statements per user read by the model (pooled); the attributes generator writes <= 5.
    max_statements: int = bounded(5, ge=1)
    # The frozen sentence encoder of the statements (the items' default: one text space).
    encoder: EncoderConfig = field(default_factory=EncoderConfig)

    def __post_init__(self) -> None:
        protocol(self.protocol, "protocol")  # registered names
        for name in self.also_valid:
            protocol(name, "also_valid")


def family_sections(cls: type) -> type:
    """Give the recipe class one field per section of every family in the table, after
    ``ids``: adding a family adds its sections here without an edit to this file."""
    annotations = {}
    for name, tp in cls.__annotations__.items():
        annotations[name] = tp
        if name == "ids":
            for fam in FAMILIES.values():
                for section, config in fam.sections.items():
                    annotations[section] = config
                    setattr(cls, section, field(default_factory=config))
    cls.__annotations__ = annotations
    return cls


@configclass
@family_sections
class Recipe:
    # The model family (genrec.families.FAMILIES: sasrec, bert4rec, hstu, popularity, tiger,
    # decoder_only, llm); its own sections (e.g. `tiger:`) follow `ids`.
    model: str = DEFAULT
    # Where the run directory goes; re-running with the same config resumes it.
    run_dir: str = "runs/default"
    data: DataConfig = field(default_factory=DataConfig)
    # Generative models: a folder written by `genrec ids build` for the same dataset.
    ids: str | None = None
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    prefs: PrefsInputConfig = field(default_factory=PrefsInputConfig)
    # RL post-training: a finished run of a family that decodes IDs to improve with `rl:`; its
    # model, architecture, data and IDs are used (genrec.recipes.post_train).
    init_from: str | None = None
    rl: RLConfig = field(default_factory=RLConfig)

    @property
    def family(self) -> Family:
        return FAMILIES[self.model]

    def __post_init__(self) -> None:
        if self.model not in FAMILIES:
            raise ValueError(
                f"model {self.model!r}: unknown model family (known: {', '.join(FAMILIES)})"
            )
        can = self.family.capabilities
        if self.prefs.statements and can.statements is None:
            raise ValueError(
                f"prefs.statements: model {self.model} cannot follow statements; use "
                f"{families_that(lambda c: c.statements)}, or remove prefs.statements"
            )
        if self.prefs.statements and self.distill.teacher:
            raise ValueError(
                "prefs.statements and distill.teacher: a teacher's soft targets do not know "
                "the statements; use one of them"
            )
        if self.decode.mode == "reasoning" and not can.reasons:
            raise ValueError(
                f"decode.mode=reasoning: model {self.model} writes no chains; use model "
                f"{families_that(lambda c: c.reasons)}, or decode.mode=direct"
            )
        prompted = can.statements == "text" and bool(self.prefs.statements)
        if self.decode.cold.items != "off" and (
            not can.decodes_ids or self.decode.mode != "direct" or prompted
        ):
            raise ValueError(
                f"decode.cold.items={self.decode.cold.items}: cold items are merged into the "
                f"beam search of a generative model ({families_that(lambda c: c.decodes_ids)} with "
                "decode.mode=direct and no statements in its prompt), not model "
                f"{self.model} with decode.mode={self.decode.mode}"
                f"{' and statements in its prompts' if prompted else ''}; set decode.cold.items=off"
            )
        aligned = families_that(lambda c: c.alignment)
        if self.alignment.statements and not can.alignment:
            raise ValueError(
                f"alignment.statements: alignment tasks are for model {aligned}, not "
                f"{self.model}; remove it"
            )
        if self.chains.writer != "template" and (
            not can.alignment or self.alignment.mix.reasoning == 0
        ):
            raise ValueError(
                f"chains.writer={self.chains.writer}: chains are written for the reasoning "
                f"examples of model {aligned}; use model {aligned} with "
                "alignment.mix.reasoning > 0, or chains.writer=template"
            )
        stages = self.alignment.curriculum
        if stages and not can.alignment:
            raise ValueError(
                f"alignment.curriculum: a curriculum of alignment tasks is for model {aligned}, "
                f"not {self.model}; remove it"
            )
        if stages and sum(s.epochs for s in stages) != self.train.epochs:
            raise ValueError(
                f"alignment.curriculum: its stages last {sum(s.epochs for s in stages)} epochs "
                f"but train.epochs is {self.train.epochs}; make them add up"
            )
        if self.distill.teacher and can.distill != "student":
            students = families_that(lambda c: c.distill == "student")
            raise ValueError(
                f"distill.teacher is for model {students}, not {self.model}; remove it"
            )
