"""agent.toml: every mistake is reported with the key that holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinic_agent.core.errors import ConfigError
from clinic_agent.runtime import config
from sync.fhir import codes


def _load(tmp_path: Path, text: str) -> config.Config:
    (tmp_path / "agent.toml").write_text(text, encoding="utf-8")
    return config.load(tmp_path)


def test_a_missing_file_means_defaults(tmp_path: Path) -> None:
    loaded = config.load(tmp_path)
    assert loaded.api.socket == tmp_path / "run" / "agent.sock"
    assert loaded.kdf.meets_floor()


def test_the_default_text_is_valid(tmp_path: Path) -> None:
    loaded = _load(tmp_path, config.DEFAULT_TEXT)
    assert loaded.thresholds.systolic_urgent == 180


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[store]\nkdf_memory_mib = 16\n", "store.kdf_memory_mib"),
        ("[store]\nkdf_memory_mib = 'lots'\n", "store.kdf_memory_mib"),
        ("[api]\nsession_idle_minutes = 60\n", "api.session_idle_minutes"),
        ("[api]\nsockt = 'x'\n", "api.sockt"),
        ("[nonsense]\n", "[nonsense]"),
        ("[log]\nlevel = 'loud'\n", "log.level"),
        ("[alerts]\nspo2_low = true\n", "alerts.spo2_low"),
        ("[api]\nmax_frame_bytes = 1\n", "api.max_frame_bytes"),
        ("not toml = = 1", "not valid TOML"),
        ("[sync]\ncolour = 1\n", "sync.colour"),
        ("[sync]\nbatch_size = 0\n", "sync.batch_size"),
        ("sync = 5\n", "sync must be a table"),
        ("devices = 3\n", "devices"),
        ("[platform]\nnamespace = 'http://fhir.tongren.example/ns'\n", "platform.namespace must be an https URL"),
        (
            "[platform]\nnamespace = 'https://fhir.tongren.example/ns/'\n",
            "platform.namespace must not end with a slash",
        ),
        ("[platform]\nnamespace = 'fhir.tongren.example/ns'\n", "platform.namespace must be an https URL"),
        ("[platform]\nnamespace = 'https:///ns'\n", "platform.namespace must be an https URL"),
        ("[platform]\nnamespace = 'https://fhir.tongren.example/ns?x=1'\n", "platform.namespace must have no query"),
        ("[platform]\nnamespace = 'https://fhir.tongren.example/n s'\n", "platform.namespace must be a URL without"),
        ("[platform]\nnamespace = 5\n", "platform.namespace must be a str"),
        ("[platform]\nbase = 'https://x.example'\n", "platform.base"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        _load(tmp_path, text)


def test_the_namespace_has_a_default_and_takes_a_platform_s_base(tmp_path: Path) -> None:
    assert config.load(tmp_path).namespace == codes.DEFAULT_NAMESPACE_BASE
    loaded = _load(tmp_path, "[platform]\nnamespace = 'https://fhir.tongren.example/ns/clinic-agent'\n")
    assert loaded.namespace == "https://fhir.tongren.example/ns/clinic-agent"


def test_relative_paths_are_relative_to_the_home(tmp_path: Path) -> None:
    assert _load(tmp_path, "[api]\nsocket = 'sock/a.sock'\n").api.socket == tmp_path / "sock" / "a.sock"
    assert _load(tmp_path, "[api]\nsocket = '/run/x.sock'\n").api.socket == Path("/run/x.sock")


def test_sync_settings_are_read_with_the_rest(tmp_path: Path) -> None:
    loaded = _load(tmp_path, "[sync]\nbatch_size = 10\ngzip = true\n")
    assert (loaded.sync.batch_size, loaded.sync.gzip, loaded.sync.max_batch) == (10, True, 200)


def test_a_config_file_that_never_ends_is_refused(tmp_path: Path) -> None:
    with (tmp_path / "agent.toml").open("wb") as file:
        file.truncate(config.CONFIG_LIMIT + 1)  # sparse: a device like /dev/zero would never end
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        config.load(tmp_path)
