"""The loader: every setting resolved from keyword arguments, environment, file and defaults.

Precedence, highest first: keyword argument, ``PYWATS_OTEL_*`` variable, standard ``OTEL_*``
variable, TOML config file, default. The loader remembers where each value came from, so that a
refused value is reported with its source and ``pywats-otel check`` can show it.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pywats_otel._base.errors import SettingProblem, TelemetryConfigError
from pywats_otel._base.redact import redact_url, register_secrets
from pywats_otel._config.settings import (
    SettingInfo,
    TelemetrySettings,
    parse_bool,
    setting_infos,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["load_settings"]

# pydantic's errors of the Field(ge=..., le=...) bounds: reported as "out of range", the
# accepted text (derived from the same bounds) says which range.
_RANGE_ERRORS = frozenset({"greater_than_equal", "less_than_equal", "greater_than", "less_than"})


@dataclass(frozen=True)
class _Raw:
    value: object
    source: str
    shown: str


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> TelemetrySettings:
    """Resolve every setting from keyword arguments, environment, config file and defaults.

    ``None`` among ``overrides`` means "not given". Raises :class:`TelemetryConfigError` naming
    every refused setting, its source and what is accepted.
    """
    env = os.environ if environ is None else environ
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    infos = {info.name: info for info in setting_infos()}

    unknown = sorted(set(given) - set(infos))
    if unknown:
        raise TelemetryConfigError(
            [
                SettingProblem(
                    setting=name,
                    source="keyword argument",
                    message="unknown setting",
                    accepted=_did_you_mean(name, infos),
                )
                for name in unknown
            ]
        )

    file_values = _read_config_file(given, env, infos)
    raw: dict[str, _Raw] = {}
    problems: list[SettingProblem] = []
    for info in infos.values():
        try:
            found = _find_value(info, given, env, file_values)
        except _RefusedInverse as refused:
            problems.append(
                SettingProblem(info.name, refused.source, refused.message, "true or false")
            )
            continue
        if found is not None:
            raw[info.name] = found
    if problems:
        raise TelemetryConfigError(problems)

    try:
        settings = TelemetrySettings.model_validate({name: r.value for name, r in raw.items()})
    except ValidationError as exc:
        raise TelemetryConfigError(_problems_from(exc, raw, infos)) from None
    settings._sources = {name: r.source for name, r in raw.items()}
    settings._notes = _unknown_variables(env, infos)
    register_secrets(settings.secret_values())
    return settings


PREFIX = "PYWATS_OTEL_"


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``did you mean X?`` for the closest of ``candidates``, else where to find them all."""
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    every = "every setting: pywats-otel settings, or docs/configuration.md"
    return f"did you mean {found[0]}? ({every})" if found else every


def _unknown_variables(env: Mapping[str, str], infos: Mapping[str, SettingInfo]) -> list[str]:
    """One note per PYWATS_OTEL_* variable that is no setting's, with the closest one."""
    known = {name for info in infos.values() for name in (*info.env, *info.inverse_env)}
    ours = sorted(name for name in known if name.startswith(PREFIX))
    notes = []
    for name in sorted(env):
        if name.startswith(PREFIX) and name not in known:
            found = difflib.get_close_matches(name, ours, n=1, cutoff=0.6)
            hint = f"; did you mean {found[0]}?" if found else " (pywats-otel settings lists them)"
            notes.append(f"environment variable {name} is not a setting of pywats_otel{hint}")
    return notes


class _RefusedInverse(ValueError):
    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source
        self.message = message


def _find_value(
    info: SettingInfo,
    given: Mapping[str, Any],
    env: Mapping[str, str],
    file_values: Mapping[str, _Raw],
) -> _Raw | None:
    if info.name in given:
        value = given[info.name]
        return _Raw(value, f"keyword argument {info.name}", _show(value, info))
    for name in info.env:
        text = env.get(name, "").strip()
        # The OpenTelemetry spec treats an empty variable as unset.
        if text:
            return _Raw(text, f"environment variable {name}", _show(text, info))
    for name in info.inverse_env:
        text = env.get(name, "").strip()
        if text:
            source = f"environment variable {name}"
            value = parse_bool(text)
            if value is None:
                raise _RefusedInverse(source, f"expected true or false, got {text!r}")
            return _Raw(not value, source, text)
    return file_values.get(info.name)


def _read_config_file(
    given: Mapping[str, Any], env: Mapping[str, str], infos: Mapping[str, SettingInfo]
) -> dict[str, _Raw]:
    if "config_file" in given:
        path_value, source = given["config_file"], "keyword argument config_file"
    elif env.get("PYWATS_OTEL_CONFIG_FILE", "").strip():
        path_value = env["PYWATS_OTEL_CONFIG_FILE"].strip()
        source = "environment variable PYWATS_OTEL_CONFIG_FILE"
    else:
        return {}
    accepted = infos["config_file"].accepted
    path = Path(path_value)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise TelemetryConfigError(
            [SettingProblem("config_file", source, f"cannot read {path}: {exc.strerror}", accepted)]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise TelemetryConfigError(
            [SettingProblem("config_file", source, f"{path} is not valid TOML: {exc}", accepted)]
        ) from None
    except UnicodeDecodeError as exc:
        # TOML is UTF-8 text; tomllib lets the decoder's error through.
        raise TelemetryConfigError(
            [
                SettingProblem(
                    "config_file",
                    source,
                    f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                    f"{exc.start}); TOML files are UTF-8",
                    accepted,
                )
            ]
        ) from None
    unknown = sorted(set(data) - set(infos) | ({"config_file"} & set(data)))
    if unknown:
        raise TelemetryConfigError(
            [
                SettingProblem(
                    name,
                    f"config file {path}",
                    "unknown setting" if name != "config_file" else "a config file cannot name one",
                    _did_you_mean(name, (n for n in infos if n != "config_file"))
                    if name != "config_file"
                    else "the setting names but config_file",
                )
                for name in unknown
            ]
        )
    return {
        key: _Raw(value, f"config file {path} (key {key})", _show(value, infos[key]))
        for key, value in data.items()
    }


def _show(value: object, info: SettingInfo) -> str:
    if info.secret:
        return "(hidden)"
    if info.url and isinstance(value, str):
        return repr(redact_url(value))
    return repr(value)


def _problems_from(
    exc: ValidationError, raw: Mapping[str, _Raw], infos: Mapping[str, SettingInfo]
) -> list[SettingProblem]:
    problems: list[SettingProblem] = []
    seen: set[str] = set()
    for error in exc.errors(include_input=False, include_url=False):
        name = str(error["loc"][0]) if error["loc"] else "settings"
        if name in seen:
            continue
        seen.add(name)
        info = infos.get(name)
        message = (
            "out of range"
            if error["type"] in _RANGE_ERRORS
            else str(error["msg"]).removeprefix("Value error, ")
        )
        entry = raw.get(name)
        if entry is not None and info is not None and not info.secret:
            message = f"{message}, got {entry.shown}"
        problems.append(
            SettingProblem(
                setting=name,
                source=entry.source if entry else "default",
                message=message,
                accepted=info.accepted if info else "",
            )
        )
    return problems
