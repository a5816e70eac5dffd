"""Tests of tetragon_core.config: flag table, layered loading, validation, --help, --generate-docs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from tetragon_core.config import (
    FLAGS,
    FLAGS_BY_NAME,
    UNSUPPORTED,
    AgentConfig,
    ConfigRoots,
    FlagKind,
    parse_agent_args,
)
from tetragon_core.config.docs import flags_markdown
from tetragon_core.config.support import EFFECTS
from tetragon_core.config.values import default_value
from tetragon_core.exceptions import ConfigError
from tetragon_core.metrics_docs import metrics_markdown

SEED_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "seed"


def _seed_flag_lines() -> dict[str, str]:
    """Flag name -> the seed table's line "--name usage default" (Daemon Configuration section)."""
    for path in sorted(SEED_DIR.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        if "1 - Daemon Configuration" not in text:
            continue
        table = text.split("Flag Usage Default Value", 1)[1].split("Configuration precedence", 1)[0]
        lines = [line.strip() for line in table.splitlines() if line.startswith("--")]
        return {line.split(" ", 1)[0].removeprefix("--"): line for line in lines}
    raise AssertionError(f"no seed file with the daemon flag table in {SEED_DIR}")


SEED = _seed_flag_lines()


@pytest.fixture
def roots(tmp_path: Path) -> ConfigRoots:
    return ConfigRoots.under(tmp_path / "root")


def _dropin(directory: Path, **values: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in values.items():
        (directory / name.replace("_", "-")).write_text(value + "\n")
    return directory


def _yaml(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_flag_names_match_seed() -> None:
    assert len(SEED) >= 70
    assert sorted(SEED) == sorted(FLAGS_BY_NAME)
    assert [f.name for f in FLAGS] == sorted(f.name for f in FLAGS)


@pytest.mark.parametrize("name", sorted(SEED))
def test_usage_and_default_match_seed(name: str) -> None:
    flag = FLAGS_BY_NAME[name]
    line = SEED[name]
    prefix = f"--{name} {flag.usage}"
    assert line.startswith(prefix), f"usage differs: {line!r}"
    assert line[len(prefix) :].strip() == flag.default


def test_agent_config_has_one_attribute_per_flag() -> None:
    fields = [f.name for f in dataclasses.fields(AgentConfig) if f.name != "sources"]
    assert fields == [flag.attr for flag in FLAGS]


def test_defaults(roots: ConfigRoots) -> None:
    cfg = parse_agent_args([], roots)
    for flag in FLAGS:
        assert getattr(cfg, flag.attr) == default_value(flag), flag.name
        assert cfg.source(flag.name) == "default"
    assert cfg == AgentConfig.defaults()
    assert cfg.server_address == "localhost:54321"
    assert cfg.process_cache_gc_interval == 30.0
    assert cfg.export_file_perm == "600" and cfg.export_file_mode == 0o600
    assert cfg.rb_queue_size == 65535
    assert cfg.username_metadata == "disabled"
    assert cfg.health_server_address == ":6789"
    assert cfg.health_server_interval == 10.0
    assert cfg.event_cache_retry_delay == 2.0
    assert cfg.tracing_policy_dir == "/etc/tetragon/tetragon.tp.d"
    assert cfg.procfs == "/proc/" and cfg.bpf_lib == "/var/lib/tetragon/"
    assert cfg.metrics_label_filter == ("namespace", "workload", "pod", "binary")
    assert cfg.export_filename == "" and cfg.enable_tracing_policy_crd is True


def test_config_roots_default_to_real_paths() -> None:
    assert dataclasses.astuple(ConfigRoots()) == (
        Path("/usr/lib/tetragon/tetragon.conf.d"),
        Path("/usr/local/lib/tetragon/tetragon.conf.d"),
        Path("/etc/tetragon/tetragon.yaml"),
        Path("/etc/tetragon/tetragon.conf.d"),
    )


def test_each_layer_overrides_the_previous(roots: ConfigRoots, tmp_path: Path) -> None:
    config_dir = tmp_path / "cfgdir"
    steps: list[tuple[str, str]] = []

    _dropin(roots.usr_lib_dropin, cluster_name="usr-lib", bpf_dir="from-usr-lib")
    steps.append(("usr-lib", str(roots.usr_lib_dropin / "cluster-name")))
    _dropin(roots.usr_local_lib_dropin, cluster_name="usr-local")
    steps.append(("usr-local", str(roots.usr_local_lib_dropin / "cluster-name")))
    _yaml(roots.etc_yaml, "cluster-name: etc-yaml\n")
    steps.append(("etc-yaml", str(roots.etc_yaml)))
    _dropin(roots.etc_dropin, cluster_name="etc-dropin", config_dir=str(config_dir))
    steps.append(("etc-dropin", str(roots.etc_dropin / "cluster-name")))
    # config-dir itself was set by the etc drop-in above; its directory is not created yet.
    _dropin(config_dir, cluster_name="config-dir")
    steps.append(("config-dir", str(config_dir / "cluster-name")))

    cfg = parse_agent_args([], roots)
    assert (cfg.cluster_name, cfg.source("cluster-name")) == steps[-1]
    assert cfg.bpf_dir == "from-usr-lib"
    assert cfg.source("bpf_dir") == str(roots.usr_lib_dropin / "bpf-dir")
    assert cfg.source("--config-dir") == str(roots.etc_dropin / "config-dir")

    cfg = parse_agent_args(["--cluster-name", "cli"], roots)
    assert (cfg.cluster_name, cfg.source("cluster-name")) == ("cli", "command line")

    # Peel the layers off from the top: each time the layer below shows through.
    (config_dir / "cluster-name").unlink()
    assert parse_agent_args([], roots).cluster_name == "etc-dropin"
    (roots.etc_dropin / "cluster-name").unlink()
    assert parse_agent_args([], roots).cluster_name == "etc-yaml"
    roots.etc_yaml.unlink()
    assert parse_agent_args([], roots).cluster_name == "usr-local"
    (roots.usr_local_lib_dropin / "cluster-name").unlink()
    cfg = parse_agent_args([], roots)
    assert (cfg.cluster_name, cfg.source("cluster-name")) == steps[0]


def test_config_dir_from_yaml_is_honoured(roots: ConfigRoots, tmp_path: Path) -> None:
    config_dir = _dropin(tmp_path / "cm", log_level="debug")
    _yaml(roots.etc_yaml, f"config-dir: {config_dir}\nlog-level: warn\n")
    cfg = parse_agent_args([], roots)
    assert cfg.log_level == "debug"
    assert cfg.source("log-level") == str(config_dir / "log-level")
    assert cfg.source("config-dir") == str(roots.etc_yaml)


def test_config_dir_from_command_line_wins(roots: ConfigRoots, tmp_path: Path) -> None:
    from_yaml = _dropin(tmp_path / "a", log_level="warn")
    from_cli = _dropin(tmp_path / "b", log_level="error")
    _yaml(roots.etc_yaml, f"config-dir: {from_yaml}\n")
    cfg = parse_agent_args([f"--config-dir={from_cli}"], roots)
    assert cfg.log_level == "error" and cfg.config_dir == str(from_cli)


def test_command_line_beats_every_layer(roots: ConfigRoots, tmp_path: Path) -> None:
    config_dir = _dropin(tmp_path / "cm", log_level="warn")
    _dropin(roots.usr_lib_dropin, log_level="warn")
    _dropin(roots.usr_local_lib_dropin, log_level="warn")
    _yaml(roots.etc_yaml, "log-level: warn\n")
    _dropin(roots.etc_dropin, log_level="warn")
    cfg = parse_agent_args(["--config-dir", str(config_dir), "--log-level", "error"], roots)
    assert (cfg.log_level, cfg.source("log-level")) == ("error", "command line")


def test_missing_config_dir_is_an_error(roots: ConfigRoots, tmp_path: Path) -> None:
    _yaml(roots.etc_yaml, f"config-dir: {tmp_path / 'nope'}\n")
    with pytest.raises(ConfigError, match=r"--config-dir: .*nope.*set by .*tetragon\.yaml"):
        parse_agent_args([], roots)


def test_dropin_skips_hidden_files_and_directories(roots: ConfigRoots) -> None:
    _dropin(roots.etc_dropin, verbose="  1  ")
    (roots.etc_dropin / ".hidden").write_text("junk")
    (roots.etc_dropin / "..data").mkdir()
    (roots.etc_dropin / "subdir").mkdir()
    assert parse_agent_args([], roots).verbose == 1


def test_unknown_dropin_file_is_an_error(roots: ConfigRoots) -> None:
    _dropin(roots.usr_local_lib_dropin, no_such_flag="1")
    with pytest.raises(ConfigError, match="no-such-flag") as info:
        parse_agent_args([], roots)
    assert str(roots.usr_local_lib_dropin / "no-such-flag") in str(info.value)


def test_unknown_yaml_key_and_unknown_cli_flag_are_errors(roots: ConfigRoots) -> None:
    _yaml(roots.etc_yaml, "bogus-option: 1\n")
    with pytest.raises(ConfigError, match=r"tetragon\.yaml: unknown configuration option 'bogus-option'"):
        parse_agent_args([], roots)
    roots.etc_yaml.unlink()
    with pytest.raises(ConfigError, match="--bogus"):
        parse_agent_args(["--bogus"], roots)


def test_cli_only_flags_are_rejected_in_files(roots: ConfigRoots) -> None:
    _dropin(roots.etc_dropin, generate_docs="true")
    with pytest.raises(ConfigError, match=r"generate-docs.*only valid on the command line"):
        parse_agent_args([], roots)


def test_bool_syntax(roots: ConfigRoots) -> None:
    assert parse_agent_args(["--debug"], roots).debug is True
    assert parse_agent_args(["--debug=TRUE"], roots).debug is True
    assert parse_agent_args(["--release-pinned-bpf=false"], roots).release_pinned_bpf is False
    assert parse_agent_args(["--release-pinned-bpf=0", "--debug"], roots).release_pinned_bpf is False
    _dropin(roots.etc_dropin, enable_process_cred="1", enable_process_ns="True")
    _yaml(roots.etc_yaml, "keep-sensors-on-exit: true\nexport-file-compress: 1\n")
    cfg = parse_agent_args([], roots)
    assert cfg.enable_process_cred and cfg.enable_process_ns
    assert cfg.keep_sensors_on_exit and cfg.export_file_compress
    assert cfg.effective_log_level == "info"
    assert parse_agent_args(["--debug"], roots).effective_log_level == "debug"


def test_list_syntax(roots: ConfigRoots) -> None:
    _yaml(roots.etc_yaml, "metrics-label-filter: [pod, binary]\n")
    assert parse_agent_args([], roots).metrics_label_filter == ("pod", "binary")
    _dropin(roots.etc_dropin, metrics_label_filter="namespace, pod")
    assert parse_agent_args([], roots).metrics_label_filter == ("namespace", "pod")
    argv = ["--metrics-label-filter", "a,b", "--metrics-label-filter=c"]
    assert parse_agent_args(argv, roots).metrics_label_filter == ("a", "b", "c")


@pytest.mark.parametrize(
    ("argv", "attr", "expected"),
    [
        (["--process-cache-gc-interval", "1m30s"], "process_cache_gc_interval", 90.0),
        (["--process-cache-gc-interval=500ms"], "process_cache_gc_interval", 0.5),
        (["--export-file-rotation-interval=1h"], "export_file_rotation_interval", 3600.0),
        (["--export-file-rotation-interval=0s"], "export_file_rotation_interval", 0.0),
        (["--event-cache-retry-delay", "5"], "event_cache_retry_delay", 5.0),
        (["--event-cache-retry-delay", "5s"], "event_cache_retry_delay", 5.0),
        (["--rb-queue-size=64K"], "rb_queue_size", 65536),
        (["--rb-size", "8M"], "rb_size", 8 << 20),
        (["--rb-size-total=1G"], "rb_size_total", 1 << 30),
        (["--export-file-max-size-mb", "20"], "export_file_max_size_mb", 20),
        (["--log-level=WARNING"], "log_level", "warning"),
        (["--username-metadata=unix"], "username_metadata", "unix"),
        (["--export-file-perm", "0644"], "export_file_perm", "0644"),
        (["--verbose=2"], "verbose", 2),
    ],
)
def test_value_syntax(roots: ConfigRoots, argv: list[str], attr: str, expected: object) -> None:
    assert getattr(parse_agent_args(argv, roots), attr) == expected


def test_yaml_values_keep_their_text(roots: ConfigRoots) -> None:
    _yaml(roots.etc_yaml, "export-file-perm: 0640\nrb-queue-size: 1024\nexport-filename:\n")
    cfg = parse_agent_args([], roots)
    assert (cfg.export_file_perm, cfg.rb_queue_size, cfg.export_filename) == ("0640", 1024, "")


def test_invalid_yaml_is_an_error(roots: ConfigRoots) -> None:
    _yaml(roots.etc_yaml, "- just\n- a list\n")
    with pytest.raises(ConfigError, match=r"tetragon\.yaml: expected a mapping"):
        parse_agent_args([], roots)


# --- validation ------------------------------------------------------------------------------

BAD_VALUES = [
    ("log-level", "loud"),
    ("log-format", "xml"),
    ("username-metadata", "ldap"),
    ("export-file-perm", "rw-r--r--"),
    ("export-file-perm", "0800"),
    ("process-cache-size", "0"),
    ("rb-queue-size", "0"),
    ("rb-size", "-1"),
    ("rb-size-total", "12X"),
    ("verbose", "3"),
    ("verbose", "-1"),
    ("debug", "maybe"),
    ("data-cache-size", "many"),
    ("process-cache-gc-interval", "30"),
    ("process-cache-gc-interval", "-5s"),
    ("event-cache-retry-delay", "soon"),
    ("export-rate-limit", "-2"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_bad_value_on_command_line(roots: ConfigRoots, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"^--{name}: .*\(set by command line\)$"):
        parse_agent_args([f"--{name}={value}"], roots)


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_bad_value_in_dropin(roots: ConfigRoots, name: str, value: str) -> None:
    _dropin(roots.etc_dropin, **{name: value})
    with pytest.raises(ConfigError, match=f"^--{name}: ") as info:
        parse_agent_args([], roots)
    assert f"(set by {roots.etc_dropin / name})" in str(info.value)


def test_bad_value_in_yaml_names_the_file(roots: ConfigRoots) -> None:
    _yaml(roots.etc_yaml, "log-format: xml\n")
    with pytest.raises(ConfigError) as info:
        parse_agent_args([], roots)
    expected = "--log-format: invalid value 'xml': must be one of text, json"
    assert str(info.value) == f"{expected} (set by {roots.etc_yaml})"


def test_every_error_is_reported(roots: ConfigRoots) -> None:
    with pytest.raises(ConfigError) as info:
        parse_agent_args(["--verbose=9", "--log-format=xml", "--enable-cgidmap"], roots)
    assert [line.split(":", 1)[0] for line in str(info.value).splitlines()] == [
        "--verbose",
        "--log-format",
        "--enable-cgidmap",
    ]


def _changed_value(name: str) -> str:
    flag = FLAGS_BY_NAME[name]
    if flag.kind is FlagKind.BOOL:
        return "false" if flag.default == "true" else "true"
    if flag.kind is FlagKind.INT:
        return str(int(flag.default) + 1)
    changes = {FlagKind.DURATION: "1m", FlagKind.SECONDS: "3", FlagKind.SIZE: "4K"}
    return changes.get(flag.kind, "/some/other/value")


def test_every_flag_works_or_is_refused_never_both() -> None:
    assert set(UNSUPPORTED) | set(EFFECTS) == set(FLAGS_BY_NAME)
    assert not set(UNSUPPORTED) & set(EFFECTS)
    for name in ("disable-kprobe-multi", "expose-stack-addresses", "health-server-address", "enable-k8s-api"):
        assert name in EFFECTS
    assert "enable-pod-info" in EFFECTS
    for name in ("enable-cgidmap", "enable-cgtrackerid", "data-cache-size"):
        assert name in UNSUPPORTED


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_changing_an_unsupported_flag_is_an_error(roots: ConfigRoots, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_agent_args([f"--{name}={_changed_value(name)}"], roots)
    assert str(info.value) == f"--{name}: {UNSUPPORTED[name]} (set by command line)"


def test_unsupported_flag_message(roots: ConfigRoots) -> None:
    _dropin(roots.etc_dropin, enable_cgidmap="true")
    with pytest.raises(
        ConfigError, match=r"^--enable-cgidmap: pod resolution by cgroup id maps is not built"
    ):
        parse_agent_args([], roots)


def test_unsupported_flags_may_be_set_to_their_default(roots: ConfigRoots) -> None:
    argv = ["--enable-cgidmap=false", "--server-address", "localhost:54321", "--health-server-interval=10s"]
    cfg = parse_agent_args(argv, roots)
    assert cfg.source("server-address") == "command line" and cfg.health_server_interval == 10.0


def test_health_server_address_empty_disables_it(roots: ConfigRoots) -> None:
    cfg = parse_agent_args(["--health-server-address", "", "--disable-kprobe-multi"], roots)
    assert cfg.health_server_address == "" and cfg.disable_kprobe_multi


def test_config_is_frozen_and_source_accepts_any_spelling(roots: ConfigRoots) -> None:
    cfg = parse_agent_args(["--bpf-lib", "/opt/lib"], roots)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.bpf_lib = "/x"  # type: ignore[misc]
    assert cfg.source("bpf-lib") == cfg.source("--bpf-lib") == cfg.source("bpf_lib") == "command line"
    assert cfg.value("--bpf-lib") == "/opt/lib"
    with pytest.raises(KeyError):
        cfg.source("nope")


def test_generate_docs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_agent_args(["--generate-docs"], ConfigRoots.under(Path("/nonexistent")))
    assert info.value.code == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["name"] == "tetragon"
    assert doc["synopsis"] and doc["usage"] == "tetragon [flags]"
    names = [option["name"] for option in doc["options"]]
    assert names == sorted(SEED)
    for option in doc["options"]:
        flag = FLAGS_BY_NAME[option["name"]]
        assert option.get("default_value", "") == flag.default
        assert option["usage"] == flag.usage
        assert option.get("default_value") != ""
        assert option["support"] in ("works", "refused") and option["support_note"]
        assert (option["support"] == "refused") == (option["name"] in UNSUPPORTED)


def test_docs_flags_md_is_generated_from_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_agent_args(["--generate-docs"], ConfigRoots.under(Path("/nonexistent")))
    doc = yaml.safe_load(capsys.readouterr().out)
    md = Path(__file__).resolve().parents[2] / "docs" / "flags.md"
    assert md.read_text() == flags_markdown(doc), "docs/flags.md is stale: run `make docs-flags`"
    metrics_md = md.with_name("metrics.md")
    stale = "docs/metrics.md is stale: run `make docs-metrics`"
    assert metrics_md.read_text() == metrics_markdown(doc["metrics"]), stale


def test_help_lists_every_flag(capsys: pytest.CaptureFixture[str], roots: ConfigRoots) -> None:
    with pytest.raises(SystemExit) as info:
        parse_agent_args(["--help"], roots)
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in SEED:
        assert f"--{name}" in out
    words = " ".join(out.split())
    assert '(default "localhost:54321")' in words and "(default 65535)" in words
