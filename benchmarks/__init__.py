"""pywats_otel's benchmarks: run with ``nox -s bench`` (or ``python -m benchmarks``).

One case a module: ``benchmarks/<section>/<case>.py`` for the sections micro, pipeline and
scale, found by ``benchmarks._registry`` and run by ``python -m benchmarks`` in section order,
then in the order each case declares. To add a case, add one file to its section's folder::

    from benchmarks._harness import CaseResult, interleave
    from benchmarks.micro import SECTION, Context

    ORDER = 85                # where it runs in the section (no other case of it has 85)
    USES = ("providers",)     # micro only: run on the shared bare SDK and init_telemetry()

    def run(context: Context) -> list[CaseResult]:
        return [interleave(SECTION, "my case", {...}, baseline=..., ops=context.ops,
                           rounds=context.rounds)]

Modules whose names start with ``_`` are a section's helpers, not cases (``micro/_common.py``:
the variants' names and comparisons; ``micro/_operations.py``: the queue and converter
operations written each way). ``_harness.py`` (timing, results files), ``_setups.py`` (what the
variants run on) and ``_sink.py`` (an OTLP sink) serve every section; ``profile.py`` and
``dead_collector.py`` are commands of their own.
"""
