"""Instruction counts: the per-report and per-operation figures that noisy machines allow.

Each case runs a program under valgrind's cachegrind (``--cache-sim=no``) for a small and a
large amount of work and reports the difference over the difference in work (see
``benchmarks._instructions``): start-up, warm-up and shutdown cancel out, and two runs agree to
a few hundredths of a percent. The periodic work is held until exit (span and log batches,
metric export), so that valgrind's slow-down does not fire it per report; the GC's full passes
are held while the work runs and one collection closes it.

- ``pywats_station``: the real pyWATS station (``benchmarks.pipeline._pywats_station``) per
  report, without telemetry, with pywats_otel, and with pywats_otel on the stock httpx
  instrumentor;
- ``demo_station``: the demo's light report (``benchmarks.pipeline._station``) per report;
- ``operations``: one operation written the way each peer writes it (``_program``), per
  operation: the peer table.

The peers (a fake WATS server, OTLP receivers) run natively in processes of their own; their
instructions are not counted. Needs valgrind (Debian package ``valgrind``); without it the
section fails with that message rather than skipping.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from benchmarks import _instructions, _registry
from benchmarks._harness import ROOT, Helper, clean_env

SECTION = "counts"

_PEERS = (
    "import json, sys\n"
    "from pywats_otel.testing.wats import FakeWATS\n"
    "from pywats_otel.testing.otlp import OTLPReceiver\n"
    "from benchmarks import _sink\n"
    "from pywats_otel._tools.demo.server import FakeWATSServer\n"
    "wats = FakeWATS()\n"
    "demo = FakeWATSServer()\n"
    "http = OTLPReceiver('http/protobuf').start()\n"
    "sink, grpc_endpoint = _sink.start()\n"
    "print(wats.url, grpc_endpoint, http.endpoint, demo.url, flush=True)\n"
    "sys.stdin.read()\n"
    "sink.stdin.close(); counts = sink.stdout.read().strip(); sink.wait(30)\n"
    "print(json.dumps({'wats_requests': len(wats.requests), 'http_spans': len(http.spans),"
    " 'grpc': counts}), flush=True)\n"
    "http.stop(); wats.stop(); demo.stop()\n"
)


class Context(_registry.Context):
    """The peers every case talks to (``wats``, ``otlp_grpc``, ``otlp_http``, the demo's
    ``demo_server``), a bytecode
    cache shared by the counted programs, and ``count_pairs()``, which runs them two at a
    time (instructions do not care how busy the machine is)."""

    def __init__(self, cases: Sequence[_registry.Case], rounds: int, quick: bool, **options: Any):
        super().__init__(cases, rounds, quick, **options)
        self.repeats = 1 if quick else int(options.get("count_repeats") or 2)
        self._peers: Helper | None = None
        self.peer_counts: dict[str, Any] = {}

    def __enter__(self) -> Context:
        if _instructions.valgrind() is None:
            raise RuntimeError(
                "the counts section needs valgrind (apt-get install valgrind); "
                "run the others with --only micro,pipeline,scale"
            )
        self._cache = tempfile.TemporaryDirectory(prefix="pywats-otel-pycache-")
        self.bytecode_cache = Path(self._cache.name)
        self._peers = Helper(["-c", _PEERS], name="the peers of the counts section")
        line = self._peers.line.split()
        if len(line) != 4:
            raise RuntimeError("the peers of the counts section did not start")
        self.wats, self.otlp_grpc, self.otlp_http, self.demo_server = line
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._peers is not None:
            last = self._peers.close(timeout_s=60).splitlines()
            if last:
                self.peer_counts = json.loads(last[-1])
        self._cache.cleanup()

    def env(self) -> dict[str, str]:
        return {"PYTHONPYCACHEPREFIX": str(self.bytecode_cache)}

    def prepare(self, argv: list[str]) -> None:
        """Run a program once at full speed: its modules compiled into the cache (a count
        must not include compiling them) and a failure seen early, with its message."""
        env = {**clean_env(), **_instructions.HELD_ENV, **self.env()}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        done = subprocess.run(
            [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv} failed:\n{done.stderr[-3000:]}")

    def count_pairs(self, jobs: list[tuple[list[str], list[str], int]]) -> list[float]:
        """Instructions per unit of work for each (small argv, large argv, units) job."""

        def count(argv: list[str]) -> _instructions.Count:
            return _instructions.count([sys.executable, *argv], env=self.env())

        flat = [argv for small, large, _ in jobs for argv in (small, large)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            counts = list(pool.map(count, flat))
        return [
            _instructions.per_unit(counts[2 * i], counts[2 * i + 1], units)
            for i, (_, _, units) in enumerate(jobs)
        ]
