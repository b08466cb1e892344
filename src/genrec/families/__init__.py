"""Model families: one object per family (how to build, train and serve its model, and what it
can do), in one table that recipes, training, RL and serving ask instead of testing classes."""

from genrec.families.family import Capabilities, Family
from genrec.families.table import DEFAULT, FAMILIES, families_that, family

__all__ = ["DEFAULT", "FAMILIES", "Capabilities", "Family", "families_that", "family"]
