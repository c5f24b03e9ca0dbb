"""Strategies sized to a number of model calls, for comparisons at equal compute.

Each strategy spends its calls differently (samples, proposals, scores, rollouts); these
formulas pick its size parameter so that it spends about ``calls`` on a task whose solutions
take ``depth`` steps, when scoring one state costs ``score_calls`` model calls (1 for a model
judge or process reward, 0 for an exact verifier). Run it under a budget of ``calls`` model
calls too, so that no strategy exceeds it.
"""

from __future__ import annotations

import math

from forethought.exceptions import UserError
from forethought.search.base import Strategy, strategy_class, strategy_names

_MAX_REFINE_ROUNDS, _MAX_REFINE_WIDTH = 50, 64  # RefineOptions' bounds


def sized(name: str, calls: int, *, depth: int, score_calls: int = 1) -> Strategy:
    """The strategy ``name`` sized to spend about ``calls`` model calls (see the module)."""
    if calls < 1 or depth < 1 or score_calls < 0:
        raise UserError(f"sized() needs calls >= 1, depth >= 1 and score_calls >= 0, got "
                        f"calls={calls!r}, depth={depth!r}, score_calls={score_calls!r}")
    per_step = 1 + score_calls
    n = max(1, calls // (per_step * depth))  # paths that can be grown step by step
    cls = strategy_class(name)
    if name == "self_consistency":
        return cls.from_options(dict(n=calls))
    if name == "best_of_n":
        return cls.from_options(dict(n=max(1, calls // per_step)))
    if name == "beam":
        expansion = min(4, n)
        return cls.from_options(dict(width=max(1, n // expansion), expansion=expansion))
    if name == "rebase":
        return cls.from_options(dict(width=n))
    if name == "particle_filter":
        return cls.from_options(dict(particles=n))
    if name == "tot_bfs":
        b = max(1, math.isqrt(n))
        return cls.from_options(dict(breadth=b, proposals=b, evaluation="scorer"))
    if name == "tot_dfs":
        return cls.from_options(dict(proposals=3, breadth=3, evaluation="scorer",
                                     max_expansions=max(1, calls // (3 * per_step))))
    if name == "refine":  # half the calls sample, half refine the best rejected ones
        half = max(1, calls // (2 * per_step))
        rounds = min(half, _MAX_REFINE_ROUNDS)  # past it, each round refines more candidates
        return cls.from_options(dict(strategy=dict(kind="best_of_n", n=half), rounds=rounds,
                                     width=min(_MAX_REFINE_WIDTH, max(1, half // rounds))))
    if name == "mcts":
        return cls.from_options(dict(width=3, evaluation="rollout",
                                     simulations=max(1, calls // (3 * (1 + per_step)))))
    raise UserError(f"no sizing rule for strategy {name!r}; strategies with one: "
                    f"{', '.join(n for n in strategy_names() if n in _SIZED)}")


_SIZED = frozenset({"self_consistency", "best_of_n", "beam", "rebase", "particle_filter",
                    "tot_bfs", "tot_dfs", "mcts", "refine"})
