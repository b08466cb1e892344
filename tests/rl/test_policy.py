"""Teacher-forced token log-probabilities are the sampler's, for both generator families."""

from __future__ import annotations

import pytest
import torch

from genrec.decoding.sampling import sample
from genrec.models.decoder_only import DecoderOnly, DecoderOnlyConfig
from genrec.models.recommender import PAD
from genrec.models.tiger import Tiger, TigerConfig
from genrec.rl.policy import Policy, token_logprobs
from genrec.rl.rollouts import rollout
from genrec.sid.semantic_ids import SemanticIds

from ..decoding.toy_models import unique_codes

IDS = SemanticIds(unique_codes((4, 3, 3), 20, seed=0), (4, 3, 3))
HISTORIES = torch.tensor([[PAD, PAD, 3], [1, 2, 5], [PAD, PAD, PAD]])


def tiny(family: str) -> Policy:
    torch.manual_seed(0)
    if family == "tiger":
        config = TigerConfig(encoder_layers=1, decoder_layers=1, heads=2, head_dim=8, d_model=16)
        return Tiger(IDS, config).eval()
    return DecoderOnly(IDS, DecoderOnlyConfig(hidden=16, layers=1, heads=2, ff_dim=32)).eval()


@pytest.mark.parametrize("family", ["decoder_only", "tiger"])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_token_logprobs_sum_to_the_samplers_logprob(family: str, temperature: float) -> None:
    model = tiny(family)
    assert isinstance(model, Policy)
    gen = torch.Generator().manual_seed(0)
    items, logprobs = sample(
        model, IDS, HISTORIES, 6, temperature=temperature, generator=gen, token_offset=2
    )
    gen = torch.Generator().manual_seed(0)
    again, tokens = rollout(model, HISTORIES, 6, temperature=temperature, generator=gen)
    assert torch.equal(items, again)
    assert tokens.shape == (3, 6, 3)
    assert torch.equal(tokens - torch.tensor(IDS.level_offsets(2)), torch.tensor(IDS.codes)[items])
    rows = HISTORIES.repeat_interleave(6, dim=0)
    per_token = token_logprobs(model, rows, tokens.flatten(0, 1), temperature)
    assert per_token.shape == (18, 3) and per_token.requires_grad
    torch.testing.assert_close(per_token.sum(1).view(3, 6), logprobs, atol=1e-4, rtol=0)


def test_beam_rollouts_are_distinct_items_and_too_many_is_an_error() -> None:
    model = tiny("decoder_only")
    items, _ = rollout(model, HISTORIES, 5, mode="beam")
    assert all(len(set(row)) == 5 for row in items.tolist())
    with pytest.raises(ValueError, match="fewer rollouts"):
        rollout(model, HISTORIES, 21, mode="beam")
