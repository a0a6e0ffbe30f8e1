"""Micro: queue + converter with telemetry not initialised (a fresh interpreter)."""

from __future__ import annotations

import json

from benchmarks._harness import CaseResult, interleave, run_python
from benchmarks.micro import SECTION, Context
from benchmarks.micro._common import NONE
from benchmarks.micro._operations import converter_api, converter_plain, queue_api, queue_plain

ORDER = 10


def run(context: Context) -> list[CaseResult]:
    return [not_initialised(context.rounds, context.ops, context.path)]


def not_initialised(rounds: int, ops: int, path: str) -> CaseResult:
    """The API before init_telemetry(), in a fresh interpreter: no-op spans and instruments.

    In this process the micro cases have set the global providers; a new process shows the
    cost a program that never calls init_telemetry() pays.
    """
    out = run_python(
        "import json, sys; from benchmarks.micro.not_initialised import _not_initialised_samples;"
        f" json.dump(_not_initialised_samples({rounds}, {ops}, {path!r}), sys.stdout)"
    )
    result = CaseResult(
        SECTION, "queue + converter, telemetry not initialised", "µs/op", NONE, json.loads(out)
    )
    result.notes.append(
        "a fresh interpreter, no SDK behind the API (no-op spans and instruments); "
        "the API's cost when a program never calls init_telemetry()"
    )
    return result


def _not_initialised_samples(rounds: int, ops: int, path: str) -> dict[str, list[float]]:
    plain_converter, api_converter = converter_plain(path), converter_api(path)

    def plain() -> None:
        queue_plain()
        plain_converter()

    def api() -> None:
        queue_api()
        api_converter()

    case = interleave(
        SECTION,
        "not initialised",
        {NONE: plain, "pywats_otel API, not initialised": api},
        baseline=NONE,
        ops=ops,
        rounds=rounds,
    )
    return case.samples
