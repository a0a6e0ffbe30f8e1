"""The benchmark cases, one module each, found by walking the section packages.

A module ``benchmarks/<section>/<name>.py`` whose name does not start with ``_`` is a case of
that section. It defines:

- ``ORDER``: an int, where the case runs within its section (lower first; no two cases of a
  section share one);
- ``run(context) -> list[CaseResult]``: the case's measurements, every result of the section
  ``<section>``; ``context`` holds ``rounds``, ``quick`` and what the section's cases share;
- optionally ``finish(results)``: called once every case of the section has run, with all of
  the section's results, for figures that set one case beside others.

A section's package may define ``Context``, a subclass of :class:`Context`, for what its cases
share while the section runs (set-ups, a scratch folder, the section's own options).
Modules whose names start with ``_`` hold the section's shared helpers and are not cases.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any

from benchmarks._harness import SECTIONS, CaseResult


@dataclass(frozen=True)
class Case:
    """One case module of a section."""

    section: str
    name: str
    order: int
    module: ModuleType

    @property
    def uses(self) -> frozenset[str]:
        """What the case asks its section's context to set up (its module's ``USES``)."""
        return frozenset(getattr(self.module, "USES", ()))

    def run(self, context: Context) -> list[CaseResult]:
        results: list[CaseResult] = self.module.run(context)
        for result in results:
            if result.section != self.section:
                raise RuntimeError(
                    f"{self.module.__name__}: result {result.case!r} is of section "
                    f"{result.section!r}, not {self.section!r}"
                )
        return results

    def finish(self, results: list[CaseResult]) -> None:
        finish = getattr(self.module, "finish", None)
        if finish is not None:
            finish(results)


class Context:
    """What the cases of one section share while it runs; the section's package may subclass it
    (as ``Context``) to set things up around its cases."""

    def __init__(self, cases: Sequence[Case], rounds: int, quick: bool, **options: Any) -> None:
        self.cases = list(cases)
        self.rounds = rounds
        self.quick = quick
        self.options = options

    def __enter__(self) -> Context:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def before(self, case: Case) -> None:
        """Called before each case."""

    def after(self, case: Case, results: list[CaseResult]) -> None:
        """Called after each case, with its results."""

    def finish(self, results: list[CaseResult]) -> None:
        """Called once all cases (and their ``finish``) have run, with the section's results."""


def cases(section: str) -> list[Case]:
    """The case modules of ``section``, in the order they run."""
    import pkgutil

    if section not in SECTIONS:
        raise ValueError(f"unknown section {section!r}; choose from {', '.join(SECTIONS)}")
    package = importlib.import_module(f"benchmarks.{section}")
    found: list[Case] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        order = getattr(module, "ORDER", None)
        if not isinstance(order, int) or not callable(getattr(module, "run", None)):
            raise TypeError(f"{module.__name__}: a case module defines ORDER (int) and run()")
        found.append(Case(section, info.name, order, module))
    found.sort(key=lambda case: case.order)
    for first, second in itertools.pairwise(found):
        if first.order == second.order:
            raise RuntimeError(
                f"{first.module.__name__} and {second.module.__name__} share ORDER {first.order}"
            )
    return found


def run_section(section: str, rounds: int, quick: bool, **options: Any) -> list[CaseResult]:
    """Run every case of ``section`` in order, inside the section's context."""
    found = cases(section)
    package = importlib.import_module(f"benchmarks.{section}")
    context_type: type[Context] = getattr(package, "Context", Context)
    results: list[CaseResult] = []
    with context_type(found, rounds, quick, **options) as context:
        for case in found:
            context.before(case)
            produced = case.run(context)
            results += produced
            context.after(case, produced)
        for case in found:
            case.finish(results)
        context.finish(results)
    return results
