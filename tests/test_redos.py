"""Issue 20: no user pattern hangs. The 13 shapes that froze ``re`` for minutes answer at once (RE2
runs them), one that only the fallback engine can run is refused in one line naming the file's line,
and random patterns match exactly as Python's ``re`` does or are refused within the budget."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freezegui.cli.main import main
from freezegui.core.errors import RuleError
from freezegui.core.rules.patterns import Pattern
from freezegui.core.rules.regex import MATCH_BUDGET_S, PatternBudgetError, compile_bounded

BERT = {
    "architectures": ["BertForMaskedLM"],
    "model_type": "bert",
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "vocab_size": 64,
    "max_position_embeddings": 32,
}
LLAMA = "py:tests.models:tiny_llama"
EVIL = "re:(.*.*)*X"


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("bert")
    (folder / "config.json").write_text(json.dumps(BERT))
    spec = f"hf-config:{folder}"
    assert main(["summary", spec]) == 0 and main(["summary", LLAMA]) == 0  # imports paid once, here
    return spec


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI in this process: exit code and its error line; no traceback, under 10 s of CPU (a
    backtracking hang burns CPU; wall time on a shared machine measures the neighbours)."""
    start, cpu = time.perf_counter(), time.process_time()
    try:
        rc = main(list(args))
    except SystemExit as exc:
        rc = int(exc.code or 0)
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert used < 10 and elapsed < 60, f"{args} took {used:.1f} s of CPU, {elapsed:.1f} s"
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) <= 1, err
    return rc, out, errors[0] if errors else ""


def files(tmp_path: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


RULE_FILE = f"default: freeze\nrules:\n- train: '{EVIL}'\n"
SHAPES = {  # name -> (arguments given tmp_path and the BERT spec, needs the LLaMA model)
    "check": lambda t, b: ["check", b, write(t, "r.yaml", RULE_FILE)],
    "summary --rules": lambda t, b: ["summary", b, "--rules", write(t, "r.yaml", RULE_FILE)],
    "plan --rules": lambda t, b: ["plan", b, "--rules", write(t, "r.yaml", RULE_FILE), "--seq-len", "8"],
    "rules --train": lambda t, b: ["rules", b, "--train", EVIL, "-o", str(t / "out.yaml")],
    "rules --lora": lambda t, b: ["rules", b, "--lora", EVIL, "-o", str(t / "out.yaml")],
    "lora: targets": lambda t, b: [
        "summary", b, "--rules", write(t, "r.yaml", f"default: freeze\nrules: []\nlora:\n  targets: ['{EVIL}']\n")
    ],
    "param:re: rule": lambda t, b: [
        "check", b, write(t, "r.yaml", "default: freeze\nrules:\n- train: 'param:re:(.*.*)*X'\n")
    ],
    "stage rule": lambda t, b: [
        "check", b, write(t, "r.yaml", f"rules:\n- train: bert\nschedule:\n- at: {{step: 1}}\n  rules:\n  - train: '{EVIL[3:]}'\n"),
    ],
    "hand-written (\\w+\\.?)*q_proj": lambda t, b: ["rules", b, "--train", r"re:(\w+\.?)*q_proj", "-o", str(t / "o.yaml")],
    "peft target_modules": lambda t, b: [
        "import", write(t, "adapter_config.json", json.dumps({"r": 4, "target_modules": "(.*.*)*X"})),
        "--from", "peft", "--model", LLAMA, "-o", str(t / "o.yaml"),
    ],
    "peft modules_to_save": lambda t, b: [
        "import", write(t, "adapter_config.json", json.dumps({"r": 4, "target_modules": ["q_proj"], "modules_to_save": ["(.*.*)*X"]})),
        "--from", "peft", "--model", LLAMA, "-o", str(t / "o.yaml"),
    ],
    "peft exclude_modules (summary --adapter)": lambda t, b: [
        "summary", LLAMA, "--adapter",
        str(Path(write(t, "adapter_config.json", json.dumps({"r": 4, "target_modules": ["q_proj"], "exclude_modules": "(.*.*)*X"}))).parent),
    ],
    "axolotl unfrozen_parameters": lambda t, b: [
        "import", write(t, "axolotl.yaml", "unfrozen_parameters:\n- '([a-z0-9_.]+)+X'\n"),
        "--from", "axolotl", "--model", LLAMA, "-o", str(t / "o.yaml"),
    ],
}  # fmt: skip


@pytest.mark.parametrize("shape", list(SHAPES))
def test_redos_shapes_answer_at_once(shape: str, tmp_path: Path, bert: str, capsys) -> None:  # type: ignore[no-untyped-def]
    args = SHAPES[shape](tmp_path, bert)
    before = {k: v for k, v in files(tmp_path).items() if not k.endswith(("out.yaml", "o.yaml"))}
    rc, _, line = run(capsys, *args)
    after = files(tmp_path)
    assert all(after[k] == v for k, v in before.items())  # inputs unchanged
    # answered (as re would: nothing here ends in X, nor in q_proj on BERT), not refused
    assert "needs more than" not in line and rc in (0, 1, 2), (rc, line)


def test_fallback_redos_refused_naming_the_line(tmp_path: Path, bert: str, capsys) -> None:  # type: ignore[no-untyped-def]
    # a conditional group keeps RE2 out; `regex` backtracks exponentially on it: refused in the budget
    text = "default: freeze\nrules:\n- train: bert.pooler\n- train: 're:(?:(.)|.)+(?(1)X|Y)'\n"
    rules = write(tmp_path, "r.yaml", text)
    before = files(tmp_path)
    rc, _, line = run(capsys, "check", bert, rules)
    assert rc == 2 and f"{rules}:4:" in line and "needs more than" in line and "(?(1)X|Y)" in line, line
    assert files(tmp_path) == before


def test_timeout_is_per_subject() -> None:
    regex = compile_bounded(r"(a|aa)+\1X")
    start = time.perf_counter()
    with pytest.raises(PatternBudgetError):
        regex.fullmatch("a" * 40)
    assert time.perf_counter() - start < 20 * MATCH_BUDGET_S + 1


@pytest.mark.parametrize(
    "pattern",
    [r"(.*.*)*X", r"([a-z0-9_.]+)+X", r"(\w+\.?)*q_proj", r"(a+)+b", r"(a|a)*b", r"(a|aa)*c", r"(\d+\.?)+x"],
)
def test_nested_quantifiers_run_on_re2(pattern: str) -> None:
    regex = compile_bounded(pattern)
    assert regex.engine == "re2"
    start = time.perf_counter()
    assert not regex.fullmatch("a" * 5000 + ".1.2" * 100)
    assert time.perf_counter() - start < 1


def test_the_meaning_is_re_s_on_flags_anchors_and_sets() -> None:
    cases = [
        (r"(?i)K", "k"), (r"(?a:\w)+", "ab_1"), (r"a.b", "a\nb"), (r"(?s)a.b", "a\nb"), (r"a$", "a\n"),
        (r"^a$", "a"), (r"\bfc\b", "fc"), (r"x\B", "xy"), (r"[^\W\d]+", "abc"), (r"a{,3}", "aaa"),
        (r"(?i)[^a-z]", "Q"), (r"(?x) a b # c", "ab"), (r"\d+", "٣"), (r"\w+", "é"),
    ]  # fmt: skip
    for pattern, subject in cases:
        regex = compile_bounded(pattern)
        for method in ("fullmatch", "match", "search"):
            expected = getattr(re.compile(pattern), method)(subject) is not None
            assert getattr(regex, method)(subject) == expected, (pattern, subject, method)


def test_bad_regex_is_a_rule_error_naming_it() -> None:
    with pytest.raises(RuleError, match=r"bad regular expression '\(ab': missing \)"):
        Pattern.compile("re:(ab")
    with pytest.raises(RuleError, match="at most"):
        compile_bounded("a" * 70_000)


ATOMS = st.sampled_from(
    ["a", "b", ".", r"\.", "[ab]", "[^a]", r"\d", r"\w", r"\b", "^", "$", "(?i:A)", "(?=a)", r"(?!b)", "é"]
)


def _pattern() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map("|".join),
            inner.map(lambda p: f"({p})"),
            st.tuples(inner, st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "*?", "{,2}"])).map("".join),
            inner.map(lambda p: f"(?:{p})\\1" if p.startswith("(") else p),
        )

    return st.recursive(ATOMS, extend, max_leaves=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pattern(), st.lists(st.text("ab.1é\n", max_size=12), min_size=1, max_size=6))
def test_random_patterns_match_as_re_or_are_refused(pattern: str, subjects: list[str]) -> None:
    try:
        expected_re = re.compile(pattern)
    except re.error:
        with pytest.raises(RuleError):
            compile_bounded(pattern)
        return
    regex = compile_bounded(pattern)
    for subject in subjects:
        for method in ("fullmatch", "match", "search"):
            start = time.perf_counter()
            try:
                got = getattr(regex, method)(subject)
            except PatternBudgetError:
                assert time.perf_counter() - start < 20 * MATCH_BUDGET_S + 1
                continue
            assert got == (getattr(expected_re, method)(subject) is not None), (pattern, subject, method)


def test_peft_pattern_over_budget_names_the_config(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = write(
        tmp_path, "adapter_config.json", json.dumps({"r": 4, "target_modules": "(?:(.)|.)+(?(1)X|Y)"})
    )
    rc, _, line = run(
        capsys, "import", config, "--from", "peft", "--model", LLAMA, "-o", str(tmp_path / "o.yaml")
    )
    assert rc == 2 and f"{config}:" in line and "target_modules" in line and "needs more than" in line, line
    assert not (tmp_path / "o.yaml").exists()
