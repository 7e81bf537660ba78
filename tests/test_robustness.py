"""Issue 11 through the CLI: bad input, hostile files and unwritable outputs end in one clear line.

Each case checks the exit code, that stderr's error is one line without a traceback, and that no
input file changed. Hostile rule files must be refused quickly; the limits are in
:mod:`freezegui.core.rules.yaml_reader` and :data:`freezegui.core.rules.ruleset.MAX_RULES`.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from freezegui.cli.main import main
from freezegui.core.rules.ruleset import RuleSet

SPEC = "py:tests.models:SmallConvNet"
HEAD = "default: freeze\nrules:\n  - train: fc\n"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI in this process; argparse's own exit (usage errors) counts as its exit code."""
    try:
        rc = main(list(args))
    except SystemExit as exc:
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return rc, out, err


def error_line(err: str) -> str:
    """The one error line (argparse adds a usage line before it)."""
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


def laughs(levels: int = 9) -> str:
    """Billion laughs inside `rules:`: each list refers to the previous one ten times (10**levels)."""
    lines = ["rules:", "  - train: &a0 [fc, fc, fc, fc, fc, fc, fc, fc, fc, fc]"]
    for i in range(1, levels):
        lines.append(f"  - train: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def million_rules() -> str:
    """~15 KB: one list of 1,000 patterns, named a thousand times (a million rules)."""
    head = "rules:\n  - train: &p [" + ", ".join(["fc"] * 1000) + "]\n"
    return head + "  - train: *p\n" * 999


HOSTILE = {
    "billion laughs": (laughs(), "aliases expand to more than"),
    "a million rules by aliases": (million_rules(), "aliases expand to more than"),
    "deeply nested [": ("rules: " + "[" * 100_000, "nest"),  # ours, or libyaml's own limit
    "deeply nested {": ("rules:\n  - train: " + "{a: " * 5_000, "nest"),  # ours, or libyaml's own limit
    "recursive alias": ("rules: &r\n  - train: *r\n", "refers to itself"),
    "undefined alias": ("rules:\n  - train: *nope\n", "is not defined"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_rule_files_are_refused(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, message = HOSTILE[case]
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    rc, _, err = run_cli(capsys, "check", SPEC, str(path))
    assert rc == 2
    line = error_line(err)
    assert message in line and str(path) in line
    assert path.read_text() == text


@pytest.mark.parametrize(
    "text",
    [
        "rules:\n" + "  - train: fc\n" * 1_001,
        "rules:\n" + ("  - train: [" + ", ".join(["fc"] * 600) + "]\n") * 2,
    ],
    ids=["one long list", "lists of patterns"],
)
def test_too_many_rules(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        "freezegui.core.rules.ruleset.MAX_RULES", 1_000
    )  # 100,000 in use: same code, less time
    path = tmp_path / "long.yaml"
    path.write_text(text)
    rc, _, err = run_cli(capsys, "check", SPEC, str(path))
    assert rc == 2 and "more than 1,000" in error_line(err)


def test_oversized_and_endless_rule_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.yaml"
    with big.open("w") as fh:  # 50 MB of comments
        fh.write(("#" + "x" * 1023 + "\n") * (50 * 1024))
    for path, message in ((big, "larger than 4 MB"), (Path("/dev/zero"), "is a character device")):
        rc, _, err = run_cli(capsys, "check", SPEC, str(path))
        assert rc == 2
        assert message in error_line(err)


def test_rule_file_that_is_a_folder_or_binary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "rules.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    for path, message in ((tmp_path, "is a folder"), (binary, "not UTF-8")):
        rc, _, err = run_cli(capsys, "check", SPEC, str(path))
        assert rc == 2 and message in error_line(err)


# ------------------------------------------------------------------------------------- outputs
def unwritable_outputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir()
    return {
        "under /proc": (Path("/proc/freezegui-test.yaml"), "/proc/freezegui-test.yaml"),
        "onto a folder": (folder, "it is a folder"),
        "parent is a file": (a_file / "out.yaml", "is a file"),
    }


@pytest.mark.parametrize("where", ["under /proc", "onto a folder", "parent is a file"])
@pytest.mark.parametrize("command", ["rules", "export", "import"])
def test_unwritable_output_is_one_line(
    command: str, where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, message = unwritable_outputs(tmp_path)[where]
    rules = tmp_path / "head.yaml"
    rules.write_text(HEAD)
    args = {
        "rules": ["rules", SPEC, "--train", "fc", "-o", str(out)],
        "export": ["export", SPEC, str(rules), "--to", "names", "-o", str(out)],
        "import": ["import", str(rules), "--from", "axolotl", "-o", str(out)],
    }[command]
    if command == "import":
        names = tmp_path / "names.txt"
        names.write_text("fc.weight\nfc.bias\n")
        args = ["import", str(names), "--from", "names", "-o", str(out)]
    rc, _, err = run_cli(capsys, *args)
    assert rc == 2
    line = error_line(err)
    assert message in line and "cannot write" in line
    assert ".tmp" not in line  # names the real file, not the hidden temporary one
    assert rules.read_text() == HEAD


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE")
def test_file_size_limit_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))\n"
        "from freezegui.cli.main import main\n"
        f"sys.exit(main(['rules', {SPEC!r}, '--train', 'fc', '-o', {str(out)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"cannot write {out}" in error_line(proc.stderr) and "size limit" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.yaml.*"))


def test_write_goes_through_symlink_and_keeps_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "real.yaml"
    target.write_text(HEAD)
    os.chmod(target, 0o640)
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    rc, _, _ = run_cli(capsys, "rules", SPEC, "--train", "features", "-o", str(link))
    assert rc == 0
    assert link.is_symlink() and link.resolve() == target
    assert [str(r) for r in RuleSet.load(target).rules] == ["train: features"]
    assert target.stat().st_mode & 0o777 == 0o640


def test_read_only_target_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "locked.yaml"
    target.write_text(HEAD)
    os.chmod(target, 0o444)
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    for out in (target, link):
        rc, _, err = run_cli(capsys, "rules", SPEC, "--train", "features", "-o", str(out))
        assert rc == 2
        line = error_line(err)
        assert f"{target} is read-only" in line  # the real path, also through the link
        assert "or pass --force (nothing was written)" in line
        assert target.read_text() == HEAD
    rc, _, _ = run_cli(capsys, "rules", SPEC, "--train", "features", "-o", str(link), "--force")
    assert rc == 0
    assert link.is_symlink() and [str(r) for r in RuleSet.load(target).rules] == ["train: features"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        rc, _, err = run_cli(capsys, "rules", SPEC, "--train", "fc", "-o", str(folder / "x.yaml"))
    finally:
        os.chmod(folder, 0o755)
    assert rc == 2 and "Permission denied" in error_line(err)


def test_never_overwrites_an_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    axolotl = tmp_path / "axolotl.yaml"
    text = "base_model: x\nunfrozen_parameters:\n  - fc.*\n"
    axolotl.write_text(text)
    link = tmp_path / "same.yaml"
    link.symlink_to(axolotl)
    for out in (axolotl, link):
        rc, _, err = run_cli(capsys, "import", str(axolotl), "--from", "axolotl", "-o", str(out))
        assert rc == 2 and "refusing to overwrite" in error_line(err)
    rules = tmp_path / "head.yaml"
    rules.write_text(HEAD)
    rc, _, err = run_cli(capsys, "export", SPEC, str(rules), "--to", "names", "-o", str(rules))
    assert rc == 2 and "refusing to overwrite" in error_line(err)
    assert axolotl.read_text() == text and rules.read_text() == HEAD


# ----------------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", SPEC, "--depth", "-1"], "must be at least 0"),
        (["train", SPEC, "--weight-decay", "nan"], "finite number"),
        (["train", SPEC, "--weight-decay", "inf"], "finite number"),
        (["train", SPEC, "--lr", "nan"], "finite number"),
        (["train", SPEC, "--steps", "0"], "must be at least 1"),
        (["train", SPEC, "--batch-size", "0"], "must be at least 1"),
        (["summary", SPEC, "--num-classes", "zero"], "invalid int value"),
    ],
)
def test_arguments_are_validated(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_cli(capsys, *args)
    assert rc == 2 and message in error_line(err)


def test_batch_size_that_cannot_be_allocated(capsys: pytest.CaptureFixture[str]) -> None:
    # 10**12 images fail at once (no memory is touched); 65536 fails the same way on a smaller machine.
    rc, _, err = run_cli(
        capsys, "train", SPEC, "--batch-size", str(10**12), "--steps", "1", "--device", "cpu"
    )
    assert rc == 2
    line = error_line(err)
    assert "GiB at batch size 1000000000000" in line and "smaller batch size" in line


def test_mistyped_command_does_not_open_the_app() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run(
        [sys.executable, "-m", "freezegui", "summry", "torchvision:resnet18"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "freezegui: error: unknown command 'summry'; did you mean 'summary'? (run `freezegui --help`)"
    )


@pytest.mark.parametrize(
    "exc",
    [PermissionError(13, "Permission denied", "/data/x.yaml"), MemoryError(), RecursionError()],
    ids=["OSError", "MemoryError", "RecursionError"],
)
def test_top_level_catch(
    exc: BaseException, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import freezegui.cli.commands.models as models

    def boom(args: object) -> int:
        raise exc

    monkeypatch.setattr(models, "run", boom)
    rc, _, err = run_cli(capsys, "models")
    assert rc == 2
    line = error_line(err)
    if isinstance(exc, OSError):
        assert "/data/x.yaml" in line and "Permission denied" in line


# ------------------------------------------------------------------------------ silent results
def tiny_llama(tmp_path: Path, layers: int = 4) -> str:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "model_type": "llama",
                "architectures": ["LlamaForCausalLM"],
                "num_hidden_layers": layers,
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "vocab_size": 64,
            }
        )
    )
    return f"hf-config:{config}"


@pytest.mark.parametrize(
    ("layers_arg", "extra", "message", "rc_expected"),
    [
        ("9", [], "is 9 but the model has 4 layers", 0),
        ("0", [], "freeze_trainable_layers is 0", 1),
        ("1", ["--num-layers", "8"], "--num-layers 8 disagrees with the model's config (4", 1),
    ],
)
def test_llamafactory_layer_counts_warn(
    layers_arg: str,
    extra: list[str],
    message: str,
    rc_expected: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = tiny_llama(tmp_path)
    lf = tmp_path / "lf.yaml"
    lf.write_text(f"finetuning_type: freeze\nfreeze_trainable_layers: {layers_arg}\n")
    out = tmp_path / "rules.yaml"
    rc, _, err = run_cli(
        capsys, "import", str(lf), "--from", "llamafactory", "-o", str(out), "--model", spec, *extra
    )
    assert rc == rc_expected
    assert message in err and "warning:" in err


def test_empty_names_list_warns_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = tmp_path / "names.txt"
    names.write_text("# nothing\n\n")
    out = tmp_path / "rules.yaml"
    rc, _, err = run_cli(capsys, "import", str(names), "--from", "names", "-o", str(out), "--model", SPEC)
    assert rc == 1 and "the names list is empty" in err


def test_export_names_of_rules_matching_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "typo.yaml"
    rules.write_text("default: freeze\nrules:\n  - train: fcc\n")
    rc, out, err = run_cli(capsys, "export", SPEC, str(rules), "--to", "names")
    assert rc == 1 and out == ""
    assert "matches no parameter" in err and "the names list is empty" in err


# ------------------------------------------------------------------------------------- messages
def test_checkpoint_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from torch import nn

    garbage = tmp_path / "random.pt"
    pickled = tmp_path / "module.pt"
    torch.save(nn.Linear(2, 2), pickled)
    rng = random.Random(2)  # 7 of its 40 payloads broke the unpickler before the fix
    for _ in range(40):  # some random bytes start like a legacy pickle stream and break its unpickler
        garbage.write_bytes(rng.randbytes(4096))
        rc, _, err = run_cli(capsys, "summary", str(garbage))
        line = error_line(err)
        assert rc == 2 and "is not a PyTorch file" in line and "weights_only" not in line
        assert "Warning" not in err
    rc, _, err = run_cli(capsys, "summary", str(pickled))
    line = error_line(err)
    assert rc == 2 and "pickled Python object" in line and "\x1b" not in err


def test_hf_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_cli(capsys, "summary", f"hf:{tmp_path / 'missing' / 'model'}", "--structure-only")
    line = error_line(err)
    assert rc == 2 and "no such folder" in line
    assert "Hub" not in line.split("(")[0] and "huggingface.co" not in line and "repo" not in line.lower()
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llamma"}))
    rc, _, err = run_cli(capsys, "summary", f"hf-config:{tmp_path}", "--structure-only")
    line = error_line(err)
    assert rc == 2 and "does not know model_type 'llamma'" in line and "llama" in line
    assert len(line) < 400
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "zzzz-unknown"}))
    rc, _, err = run_cli(capsys, "summary", f"hf-config:{tmp_path}", "--structure-only")
    line = error_line(err)
    assert rc == 2 and " more" in line and "…" in line and len(line) < 400


def test_factory_that_exits_is_a_load_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "user_model.py"
    script.write_text(
        "import argparse\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.add_argument('--data', required=True)\n"
        "parser.parse_args()\n"
        "def build():\n    pass\n"
    )
    rc, _, err = run_cli(capsys, "summary", f"{script}:build")
    line = error_line(err.replace("user_model.py: error", "user_model.py: e-r-r-o-r"))
    assert rc == 2 and "SystemExit(2)" in line and "failed to import" in line
    assert "usage: freezegui" not in err  # argparse in user code names the user's file, not ours
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\ndef build():\n    sys.exit(3)\ndef stop():\n    raise KeyboardInterrupt\n")
    for name, message in (("build", "SystemExit(3)"), ("stop", "KeyboardInterrupt")):
        rc, _, err = run_cli(capsys, "summary", f"{exits}:{name}")
        assert rc == 2 and message in error_line(err)


# ------------------------------------------------------------------------------------------ core
def test_atomic_write_force_and_error_type(tmp_path: Path) -> None:
    from freezegui.core.atomic import WriteError, atomic_write_text
    from freezegui.core.errors import FreezeguiError

    target = tmp_path / "locked.yaml"
    target.write_text("old")
    os.chmod(target, 0o444)
    with pytest.raises(WriteError) as info:
        atomic_write_text(target, "new")
    assert isinstance(info.value, OSError) and isinstance(info.value, FreezeguiError)
    assert info.value.filename == str(target) and target.read_text() == "old"
    atomic_write_text(target, "new", force=True)
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o444


@pytest.mark.parametrize("exc", [SystemExit(1), KeyboardInterrupt(), GeneratorExit()], ids=repr)
def test_user_code_exiting_in_a_training_step_is_a_step_error(exc: BaseException) -> None:
    import torch
    from torch import nn

    from freezegui.core.training.config import TrainingConfig
    from freezegui.core.training.engine import TrainingRun

    class Exits(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            if self.calls > 2:  # after the dry forward and one good step
                raise exc
            return self.fc(x.flatten(1)[:, :4])

    report = TrainingRun(Exits(), TrainingConfig(steps=3, batch_size=2, device="cpu")).run()
    assert report.status in ("failed", "stopped") and "step 2" in report.message
    assert (
        type(exc).__name__ in report.message
        or "sys.exit(1)" in report.message
        or "interrupted" in report.message
    )


def test_empty_learning_rate_field_message() -> None:
    from freezegui.core.errors import TrainingError
    from freezegui.core.training.config import TrainingConfig

    with pytest.raises(TrainingError, match="learning rate is empty or not a number") as info:
        TrainingConfig(lr=float("nan")).validate()
    assert "nan" not in str(info.value)
