"""Issue 20: a model too large for the host is refused before it is built, in one line with the GiB
it needs and the ``--structure-only`` way out; with that flag it opens."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from torch import nn

from freezegui.cli.main import main
from freezegui.core.errors import LoadError
from freezegui.core.models.size_check import available_bytes, ensure_fits, model_bytes

HUGE = {  # ~1 TiB of fp32 weights in four layers
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 65536,
    "intermediate_size": 262144,
    "num_hidden_layers": 4,
    "num_attention_heads": 64,
    "vocab_size": 32000,
}


def one_line(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    cpu = time.process_time()
    rc = main(list(args))
    out, err = capsys.readouterr()
    assert time.process_time() - cpu < 10 and "Traceback" not in out + err
    return rc, err.strip()


@pytest.mark.parametrize(
    "args",
    [["hf-config:HUGE"], ["torchvision:resnet18", "--num-classes", "1000000000000"]],
    ids=["hf-config of a terabyte", "num-classes 10^12"],
)
def test_too_large_is_one_line_with_gib_and_the_hint(args: list[str], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "config.json").write_text(json.dumps(HUGE))
    args = [a.replace("HUGE", str(tmp_path)) for a in args]
    rc, err = one_line(capsys, "summary", *args)
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert " GiB for its weights" in err and "--structure-only" in err
    assert "allocat" not in err.lower()


def test_structure_only_opens_it(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "config.json").write_text(json.dumps(HUGE))
    rc, _ = one_line(capsys, "summary", f"hf-config:{tmp_path}", "--structure-only", "--json")
    assert rc == 0


def test_ensure_fits_counts_each_tensor_once() -> None:
    model = nn.Sequential(nn.Linear(1000, 1000), nn.Linear(1000, 1000))
    model[1].weight = model[0].weight  # tied: counted once
    assert model_bytes(model) == (1000 * 1000 + 2 * 1000) * 4
    ensure_fits("m", lambda: model, available=10 * 2**20)
    with pytest.raises(LoadError, match=r"m needs 0\.0 GiB .* 0\.0 GiB free; --structure-only"):
        ensure_fits("m", lambda: model, available=2**20)
    assert (available_bytes() or 1) > 0
