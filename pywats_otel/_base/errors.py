"""The one exception users catch: configuration refused at start-up."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SettingProblem:
    """One refused value: which setting, where its value came from, and what is accepted."""

    setting: str
    source: str
    message: str
    accepted: str

    def __str__(self) -> str:
        return f"{self.setting} from {self.source}: {self.message} (accepted: {self.accepted})"


class TelemetryConfigError(ValueError):
    """A setting has a value pywats_otel refuses.

    The message names each setting, the place its value came from (keyword argument,
    environment variable, config file or default) and what is accepted. Secret values
    (OTLP headers, passwords) are never part of it.
    """

    def __init__(self, problems: list[SettingProblem]) -> None:
        self.problems = tuple(problems)
        if len(problems) == 1:
            text = f"invalid telemetry setting {problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in problems)
            text = f"{len(problems)} invalid telemetry settings:\n{lines}"
        super().__init__(text)

    @property
    def setting(self) -> str:
        """The first refused setting's name."""
        return self.problems[0].setting

    @property
    def source(self) -> str:
        """Where the first refused setting's value came from."""
        return self.problems[0].source
