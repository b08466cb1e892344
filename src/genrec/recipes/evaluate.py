"""Building a recipe's model, rebuilding a finished run, and its final evaluation."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from genrec.config import load_config
from genrec.data.dataset import Dataset
from genrec.data.prepare import load_dataset, make_split
from genrec.data.splits import Split
from genrec.data.windows import next_item_windows
from genrec.decoding.cold_items import ColdItems, untrained_items
from genrec.decoding.ensemble import ensemble
from genrec.decoding.generative import GenerativeRecommender, in_dtype
from genrec.decoding.prompted import PromptedRecommender
from genrec.decoding.reasoning import ReasoningRecommender
from genrec.errors import ConfigError, DataError
from genrec.eval import EvalResult, evaluate
from genrec.models.bert4rec import BERT4Rec
from genrec.models.decoder_only import DecoderOnly, decoder_only_examples
from genrec.models.distillation import ItemTeacher
from genrec.models.hstu import HSTU
from genrec.models.llm_backbone import LLMBackbone, llm_backbone
from genrec.models.llm_tasks import PromptStatements, alignment_samples, encode
from genrec.models.popularity import Popularity
from genrec.models.recommender import PAD, Recommender
from genrec.models.sasrec import SASRec
from genrec.models.tiger import Tiger, tiger_examples
from genrec.prefs.chains import chain_writer
from genrec.prefs.store import load_statements
from genrec.recipes.binding import TrainedOn, check_ids, check_trained_on
from genrec.recipes.conditioning import Conditioning, statement_encoder
from genrec.recipes.recipe import Recipe
from genrec.sid.semantic_ids import SemanticIds
from genrec.text.cache import item_embeddings
from genrec.training.checkpoint import load_weights
from genrec.training.run_dir import RunDir, environment

GENERATIVE = ("tiger", "decoder_only", "llm")
#: The chains a chat model wrote for a run's reasoning examples, by prompt (``prefs.chains``).
CHAINS = "chains.jsonl"
#: The networks that generate semantic IDs (decoded by constrained beam search).
GENERATORS = (Tiger, DecoderOnly, LLMBackbone)


def build_model(recipe: Recipe, dataset: Dataset, split: Split) -> nn.Module | Popularity:
    """A fresh model for ``recipe`` (networks untrained; popularity fitted: it has no weights)."""
    if recipe.model == "popularity":
        return Popularity(split.n_items).fit(split.train)
    if recipe.model == "sasrec":
        return SASRec(split.n_items, split.max_history, recipe.sasrec)
    if recipe.model == "bert4rec":
        return BERT4Rec(split.n_items, split.max_history, recipe.bert4rec)
    if recipe.model == "hstu":
        return HSTU(split.n_items, split.max_history, recipe.hstu)
    ids = load_ids(recipe, dataset)
    if recipe.model == "llm":
        device = "cpu" if recipe.train.cpu else None
        return llm_backbone(ids, recipe.llm, item_titles(dataset), device)
    dim = statement_encoder(recipe.prefs.encoder).dim if recipe.prefs.statements else 0
    if recipe.model == "tiger":
        return Tiger(ids, dataclasses.replace(recipe.tiger, statement_dim=dim))
    return DecoderOnly(ids, dataclasses.replace(recipe.decoder_only, statement_dim=dim))


def conditioning(recipe: Recipe, dataset: Dataset) -> Conditioning | None:
    """The recipe's statements for ``dataset`` (None without ``prefs.statements``)."""
    if not recipe.prefs.statements:
        return None
    encoder = statement_encoder(recipe.prefs.encoder)
    return Conditioning(recipe.prefs.statements, dataset, encoder, recipe.prefs.max_statements)


def load_ids(recipe: Recipe, dataset: Dataset) -> SemanticIds:
    """The recipe's semantic IDs, checked to belong to ``dataset``."""
    if not recipe.ids:
        raise ConfigError(
            f"ids: model {recipe.model} needs semantic IDs; build them with "
            "`genrec ids build <dataset> out=DIR` and set ids=DIR"
        )
    ids = SemanticIds.load(recipe.ids)
    built_for = ids.metadata.get("fingerprint")
    if ids.n_items != dataset.n_items or (built_for and built_for != dataset.fingerprint):
        raise ConfigError(
            f"ids: {recipe.ids} was built for dataset {built_for} ({ids.n_items} items), but the "
            f"recipe's data is {dataset.fingerprint} ({dataset.n_items} items); rebuild the IDs "
            "for this dataset."
        )
    if "split" in ids.metadata:  # built from a trained run's collaborative embeddings
        check_trained_on(
            f"ids: {recipe.ids} come from run {ids.metadata.get('collaborative_run')}, which",
            TrainedOn(str(built_for), str(ids.metadata["split"])),
            "this recipe uses",
            TrainedOn.of(dataset, recipe.data),
            f"build IDs from a run with data.split={recipe.data.split}, or use text IDs.",
        )
    return ids


def teacher(recipe: Recipe, model: nn.Module, dataset: Dataset) -> ItemTeacher | None:
    """The recipe's distillation teacher for ``model`` (None without ``distill.teacher``): a
    finished SASRec run on the same data and split, reading histories as long as the student's."""
    if not recipe.distill.teacher:
        return None
    path = recipe.distill.teacher
    teacher_recipe, teacher_data, _, scorer = load_run(path)
    if not isinstance(scorer, SASRec):
        raise ConfigError(
            f"distill.teacher: {path} is a {teacher_recipe.model} run; it must be a sasrec run "
            "on this recipe's data and split"
        )
    check_trained_on(
        f"distill.teacher: {path}",
        TrainedOn.of(teacher_data, teacher_recipe.data),
        "this recipe uses",
        TrainedOn.of(dataset, recipe.data),
        "train the teacher on this recipe's data and split.",
    )
    if teacher_recipe.data.max_history < recipe.data.max_history:
        raise ConfigError(
            f"distill.teacher: {path} reads histories of up to {teacher_recipe.data.max_history}"
            f" items, this recipe's windows hold data.max_history={recipe.data.max_history}; "
            "train the teacher with at least this data.max_history."
        )
    assert isinstance(model, DecoderOnly)  # Recipe checks distill is for decoder_only
    return ItemTeacher(scorer, model.item_tokens.table, recipe.distill)


def training_examples(model: nn.Module, split: Split) -> dict[str, torch.Tensor]:
    """The example tensors ``model.forward`` trains on."""
    if isinstance(model, Tiger):
        return tiger_examples(split.train, model.ids, split.max_history)
    if isinstance(model, DecoderOnly):
        return decoder_only_examples(split.train, split.max_history)
    # SASRec, BERT4Rec, HSTU: next-item windows, with their lengths so that a length-bucketed
    # batch (train.bucket_by_length=true; off by default for them) trims their padding.
    windows = torch.from_numpy(next_item_windows(split.train, split.max_history))
    return {"windows": windows, "lengths": (windows != PAD).sum(1)}


def item_titles(dataset: Dataset) -> list[str | None]:
    """Each item's title, by item index (None where it has none)."""
    return dataset.items.sort("item")["title"].to_list()


def item_categories(dataset: Dataset) -> list[str | None]:
    """Each item's category path ``a > b``, by item index (None where it has none)."""
    paths = dataset.items.sort("item")["categories"].to_list()
    return [" > ".join(p) if p else None for p in paths]


def alignment_examples(
    recipe: Recipe, model: LLMBackbone, dataset: Dataset, split: Split, run: RunDir | None = None
) -> dict[str, torch.Tensor]:
    """The token tensors of the recipe's alignment tasks (``genrec.models.llm_tasks``). With
    ``prefs.statements`` the sequence tasks' prompts carry the step's statements, and those
    statements feed the statement tasks unless ``alignment.statements`` names others. A
    ``chains.writer`` other than the templates writes the reasoning chains, cached in ``run``
    (``CHAINS``), and records there how many replies it could use."""
    said = recipe.prefs.statements
    said_table = load_statements(said, dataset).table if said else None
    told = recipe.alignment.statements
    statements = load_statements(told, dataset).table if told else said_table
    cache = run.path / CHAINS if run is not None else None
    writer = chain_writer(recipe.chains, cache)
    prompts = None
    if said_table is not None:
        prompts = PromptStatements(said_table, recipe.prefs.drop, recipe.prefs.max_statements)
    samples = alignment_samples(
        split.train,
        model.item_strings,
        item_titles(dataset),
        recipe.alignment,
        recipe.llm.max_history,
        recipe.train.seed,
        statements,
        item_categories(dataset),
        prompts,
        writer,
    )
    if writer is not None and run is not None:  # how many chains the model wrote
        run.write_manifest(chains=dict(writer.counts))
    return encode(samples, model.chat)


def cold_items(
    recipe: Recipe, dataset: Dataset, split: Split, model: nn.Module | Popularity
) -> ColdItems | None:
    """The recipe's scorer of items unseen in training (None with ``decode.cold.items=off``):
    the items without a training interaction in ``split``, embedded from their text with the
    default template and encoder (those of `genrec ids build`)."""
    if recipe.decode.cold.items == "off" or not isinstance(model, GENERATORS):
        return None
    cold = untrained_items(split.train, split.n_items)
    embeddings = item_embeddings(dataset, progress=recipe.train.progress)
    return ColdItems(embeddings, cold, model.ids, recipe.decode.cold)


def as_recommender(
    model: nn.Module | Popularity, recipe: Recipe, cold: ColdItems | None = None
) -> Recommender:
    """The Recommender view of a model: generators decode with constrained beam search, with
    ``cold`` (``cold_items``) merging in the items unseen in training."""
    # An LLM trained with statements in its prompts reads a request's preferences as text.
    said = recipe.prefs.max_statements if recipe.prefs.statements else 0
    if isinstance(model, LLMBackbone) and recipe.decode.mode == "reasoning":
        return ReasoningRecommender(
            in_dtype(model, getattr(torch, recipe.decode.precision)),  # type: ignore[arg-type]
            beams=recipe.decode.beams,
            chain_tokens=recipe.decode.chain_tokens,
            scoring=recipe.decode.scoring,
            max_statements=said,
        )
    if isinstance(model, LLMBackbone) and said:
        return PromptedRecommender(
            in_dtype(model, getattr(torch, recipe.decode.precision)),  # type: ignore[arg-type]
            beams=recipe.decode.beams,
            max_statements=said,
            scoring=recipe.decode.scoring,
        )
    if isinstance(model, (Tiger, DecoderOnly, LLMBackbone)):
        # The LLM backbone reads statements as text in its prompt, not as vectors.
        follows = getattr(model, "statement", None) is not None
        return GenerativeRecommender(
            model,
            model.ids,
            beams=recipe.decode.beams,
            token_offset=model.token_offset,
            dtype=getattr(torch, recipe.decode.precision),
            statements=statement_encoder(recipe.prefs.encoder) if follows else None,
            max_statements=recipe.prefs.max_statements,
            scoring=recipe.decode.scoring,
            cold=cold,
        )
    return model


def load_run(
    path: str | Path, decode: Sequence[str] = ()
) -> tuple[Recipe, Dataset, Split, Recommender]:
    """Rebuild a finished run: its recipe, data, split (its cases told the statements of
    ``prefs.protocol`` when the run follows statements) and best model (as a Recommender).
    ``decode``: ``key=value`` overrides of the run's ``decode`` settings (``cold.items=text``),
    which change how the trained model decodes, never what was trained."""
    run = RunDir(Path(path))
    if not run.config.is_file():
        raise DataError(
            f"{run.path}: not a run directory (no config.yaml); train one with `genrec train`."
        )
    recipe = load_config(Recipe, run.config, [f"decode.{item}" for item in decode])
    dataset = load_dataset(recipe.data)
    split = make_split(dataset, recipe.data)
    model = build_model(recipe, dataset, split)
    told = conditioning(recipe, dataset)
    if told is not None:
        split = told.split(split, recipe.prefs.protocol)
    if isinstance(model, GENERATORS) and recipe.ids:
        check_ids(run, recipe.ids, model.ids)
    if isinstance(model, nn.Module):
        if not run.best.is_dir():
            raise DataError(
                f"{run.path}: no best checkpoint yet (training stopped before its first "
                f"validation); resume it with `genrec train {run.config}`."
            )
        load_weights(run.best, model)
        model.eval()
    cold = cold_items(recipe, dataset, split, model)
    return recipe, dataset, split, as_recommender(model, recipe, cold)


def load_ensemble(paths: Sequence[str | Path]) -> tuple[Recipe, Dataset, Split, Recommender]:
    """Rebuild finished generative runs on the same data and IDs as one recommender (a product
    of experts, ``genrec.decoding.ensemble``) with the first run's recipe, split and beams."""
    if not paths:
        raise ConfigError("an ensemble needs at least one run directory")
    loaded = [load_run(path) for path in paths]
    recipe, dataset, split, _ = loaded[0]
    members = []
    for path, (member, data, _, model) in zip(paths, loaded, strict=True):
        if not isinstance(model, GenerativeRecommender):
            raise ConfigError(
                f"{path}: a {member.model} run; only generative runs ({', '.join(GENERATIVE)}) "
                "decode semantic IDs together"
            )
        check_trained_on(
            str(path),
            TrainedOn.of(data, member.data),
            f"{paths[0]} was trained on",
            TrainedOn.of(dataset, recipe.data),
            "ensemble runs of the same data and split.",
        )
        members.append(model)
    try:
        model = ensemble(members)
    except ValueError as exc:
        raise ConfigError(f"ensemble of {', '.join(map(str, paths))}: {exc}") from exc
    return recipe, dataset, split, model


def final_evaluation(
    model: Recommender,
    dataset: Dataset,
    split: Split,
    recipe: Recipe,
    run: RunDir,
    exclude_history: bool | None = None,
    variant: str = "",
) -> dict[str, EvalResult]:
    """Evaluate on validation and test, saving metrics and per-user results (with the
    dataset's user and item ids) under ``run`` (``eval/<split>[-<variant>]``)."""
    exclude = recipe.eval.exclude_history if exclude_history is None else exclude_history
    user_ids = dataset.users.sort("user")["user_id"]
    item_ids = dataset.items.sort("item")["item_id"]
    results = {}
    for name, cases in (("valid", split.valid), ("test", split.test)):
        result = evaluate(
            model,
            cases,
            ks=recipe.eval.ks,
            batch_size=recipe.eval.batch_size,
            exclude_history=exclude,
            progress=recipe.train.progress,
        ).with_ids(user_ids, item_ids)
        suffix = ""
        if exclude != recipe.eval.exclude_history:
            suffix = "-exclude-history" if exclude else "-keep-history"
        suffix += f"-{variant}" if variant else ""
        result.save(run.eval_dir(name + suffix))
        results[name] = result
    return results


def evaluate_ensemble(
    paths: Sequence[str | Path], out: str | Path, exclude_history: bool | None = None
) -> tuple[Recipe, dict[str, EvalResult]]:
    """Evaluate the ensemble of the runs ``paths`` (``load_ensemble``) on validation and test
    into ``out`` (``eval/<split>``, and the members in ``manifest.json``). The manifest is
    written last, so an interrupted evaluation never labels older results with new members."""
    recipe, dataset, split, model = load_ensemble(paths)
    run = RunDir(Path(out))
    results = final_evaluation(model, dataset, split, recipe, run, exclude_history)
    run.write_manifest(ensemble=[str(path) for path in paths], **environment())
    return recipe, results
