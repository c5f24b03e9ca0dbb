"""Shared by the NATURAL PLAN tests (imported by them; not a test module).

The data is read from ``../shared/data/natural_plan`` beside the repository (CI puts it
there). A missing folder fails the tests with the path, never skips them.
"""

from __future__ import annotations

import functools

from forethought.tasks.natural_plan.dataset import Domain, Instance, data_dir, load_instances


@functools.cache
def instances(domain: Domain) -> tuple[Instance, ...]:
    if not data_dir().is_dir():
        raise AssertionError(f"NATURAL PLAN data missing: expected {data_dir()} (the shared "
                             f"data folder beside the repository, as in CI)")
    return tuple(load_instances(domain))


def by_id(domain: Domain, instance_id: str) -> Instance:
    return next(i for i in instances(domain) if i.id == instance_id)
