"""Open a Llama-3-70B-shaped config with --structure-only: wall time and memory, measured in one run.

    python benchmarks/bench_structure_only.py

Prints the time and peak memory of `freezegui summary hf-config:DIR --structure-only` in a fresh
process, next to the same process doing only the imports, so the model's own share is visible
(the CUDA build of torch alone maps ~0.9 GB at import).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.models import LLAMA_70B_CONFIG as CONFIG

_MEASURE = """
import resource, sys, time, runpy
t = time.perf_counter()
sys.argv = {argv!r}
{body}
print("__PEAK_KB__", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - t, file=sys.stderr)
"""


def _run(body: str, argv: list[str]) -> tuple[float, float, str]:
    code = _MEASURE.format(argv=argv, body=body)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    peak_kb = float(
        next(line.split()[1] for line in proc.stderr.splitlines() if line.startswith("__PEAK_KB__"))
    )
    return wall, peak_kb / 1024, proc.stdout


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "config.json").write_text(json.dumps(CONFIG))
        imports = (
            "import freezegui, freezegui.cli.main, transformers\nfrom transformers import LlamaForCausalLM"
        )
        base_wall, base_mb, _ = _run(imports, ["x"])
        argv = ["freezegui", "summary", f"hf-config:{tmp}", "--structure-only", "--json"]
        body = "from freezegui.cli.main import main\nrc = main(sys.argv[1:])"
        wall, mb, out = _run(body, argv)
    total = json.loads(out)["total"]
    print(f"total parameters            {total:,}")
    print(f"imports only                {base_wall:6.2f} s   peak RSS {base_mb:7.0f} MB")
    print(f"summary --structure-only    {wall:6.2f} s   peak RSS {mb:7.0f} MB")
    print(f"model's own share           {wall - base_wall:6.2f} s   {mb - base_mb:7.0f} MB")


if __name__ == "__main__":
    main()
