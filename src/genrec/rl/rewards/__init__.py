"""Verifiable rewards of RL rollouts: objects behind one interface (``Reward``), by name.

The recipe picks one with ``rl.reward`` (``REWARDS``): ``exact`` (plain GRPO), ``prefix``
(SRPO's partial credit for a matched ID prefix, the default) or ``rank_aware`` (MiniOneRec's
penalty by beam rank). A new reward is one file here and one line in ``REWARDS``; the step
(``genrec.rl.srpo.srpo_step``) only calls the object it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from genrec.config import registered
from genrec.rl.rewards.exact import ExactReward
from genrec.rl.rewards.prefix import PREFIX_CREDIT, PrefixReward, matched_prefix
from genrec.rl.rewards.rank_aware import RankAwareReward, rank_penalty
from genrec.rl.rewards.reward import Reward

if TYPE_CHECKING:
    from genrec.rl.srpo import RLConfig

#: ``rl.reward`` -> the reward, built from the ``rl:`` section (the settings it reads).
REWARDS: dict[str, Callable[[RLConfig], Reward]] = {
    "exact": lambda rl: ExactReward(),
    "prefix": lambda rl: PrefixReward(rl.prefix_credit),
    "rank_aware": lambda rl: RankAwareReward(),
}


def build_reward(config: RLConfig) -> Reward:
    """The reward ``config.reward`` names, with its settings (``ConfigError`` for a name that
    is not in ``REWARDS``, listing those that are)."""
    return registered(REWARDS, config.reward, "reward")(config)


__all__ = [
    "PREFIX_CREDIT",
    "REWARDS",
    "ExactReward",
    "PrefixReward",
    "RankAwareReward",
    "Reward",
    "build_reward",
    "matched_prefix",
    "rank_penalty",
]
