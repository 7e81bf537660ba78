"""Issue 26, case 3: ``train --save DIR`` is all old or all new after a kill at any point of the write."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
import torch

from freezegui.core.errors import TrainingError
from freezegui.core.rules.ruleset import RuleSet
from freezegui.core.training import checkpoint
from freezegui.core.training.checkpoint import save_checkpoint
from tests.models import MLP
from tests.test_robustness import error_line, run_cli

OS_CALLS = ("mkdir", "open", "write", "fsync", "close", "rename", "replace", "chmod", "rmdir", "unlink")


def _contents(folder: Path) -> dict[str, object] | None:
    """Each file's bytes; a safetensors file's tensors (its header's key order varies between writes)."""
    from safetensors.torch import load

    if not folder.is_dir():
        return None
    out: dict[str, object] = {}
    for p in sorted(folder.iterdir()):
        data = p.read_bytes()
        if p.suffix == ".safetensors":
            out[p.name] = {k: (v.dtype, v.shape, v.numpy().tobytes()) for k, v in load(data).items()}
        else:
            out[p.name] = data
    return out


def _save_killed_at(point: int, model: torch.nn.Module, rules: RuleSet, folder: Path) -> bool:
    """Save in a forked child that SIGKILLs itself before its ``point``-th file-system call; True when
    the save finished before that point."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            calls = [0]

            def counted(fn):  # type: ignore[no-untyped-def]
                def call(*args, **kwargs):  # type: ignore[no-untyped-def]
                    calls[0] += 1
                    if calls[0] == point:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return fn(*args, **kwargs)

                return call

            for name in OS_CALLS:
                setattr(os, name, counted(getattr(os, name)))
            checkpoint._exchange = counted(checkpoint._exchange)
            save_checkpoint(model, rules, folder, force=True)
            os._exit(0)
        except BaseException:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return False
    assert os.WEXITSTATUS(status) == 0
    return True


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return MLP()


@pytest.mark.parametrize("existing", [True, False])
def test_a_kill_at_every_point_leaves_all_old_or_all_new(tmp_path: Path, existing: bool) -> None:
    old_rules = RuleSet.loads("default: freeze\nrules:\n- train: fc1\n")
    new_rules = RuleSet.loads("default: freeze\nrules:\n- train: fc2\n")
    folder = tmp_path / "ckpt"
    reference = tmp_path / "reference"
    save_checkpoint(_model(1), new_rules, reference)
    new = _contents(reference)
    old = None
    seen = set()
    for point in range(1, 500):
        for leftover in tmp_path.glob(".ckpt.*"):
            shutil.rmtree(leftover)
        if existing:
            if folder.exists():
                shutil.rmtree(folder)
            save_checkpoint(_model(0), old_rules, folder)
            old = _contents(folder)
        done = _save_killed_at(point, _model(1), new_rules, folder)
        state = _contents(folder)
        assert state in (old, new), f"killed at call {point}: {sorted(state or {})}"
        seen.add("new" if state == new else "old")
        if done:
            break
    else:
        pytest.fail("the save never finished")
    assert seen == {"old", "new"} and point > 8  # the kills did land before and after the swap
    assert old != new


def _train(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    rules = tmp_path / "rules.yaml"
    rules.write_text("default: freeze\nrules:\n- train: fc2\n")
    rc, _, err = run_cli(
        capsys, "train", "py:tests.models:MLP", "--rules", str(rules), "--steps", "2", "--no-plan", *extra
    )
    return rc, err


def test_an_existing_checkpoint_is_kept_unless_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert _train(tmp_path, capsys, "--save", str(out))[0] == 0
    before = _contents(out)
    assert before is not None and {"model.safetensors", "rules.yaml", "training_report.json"} == set(before)
    rc, err = _train(tmp_path, capsys, "--save", str(out), "--seed", "3")
    assert rc == 2 and "already holds a checkpoint" in error_line(err) and "--force" in error_line(err)
    assert _contents(out) == before
    assert _train(tmp_path, capsys, "--save", str(out), "--seed", "3", "--force")[0] == 0
    after = _contents(out)
    assert (
        after is not None
        and set(after) == set(before)
        and after["model.safetensors"] != before["model.safetensors"]
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_folder_with_other_files_is_never_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    for force in (False, True):
        with pytest.raises(TrainingError, match=r"holds other files \(notes.txt\)"):
            save_checkpoint(_model(0), RuleSet.loads("default: train\n"), folder, force=force)
    assert _contents(folder) == {"notes.txt": b"keep me"}
