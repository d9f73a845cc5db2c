"""`radstream ab` end to end on the session's embedded stack (tiny blocks: the structure and the restore are
checked here; the figures are for `radstream ab` to print, never asserted)."""

import json

from radstream.tooling.cli import main
from radstream.tooling.stack.embedded import EmbeddedStack


def cli(embedded_stack, *args: str) -> int:
    return main(["--state-dir", str(embedded_stack.embedded.state_dir), *args])


def test_model_batching_runs_interleaved_blocks_and_restores_the_model_server(embedded_stack, tmp_path, capsys):
    out = tmp_path / "ab.json"
    assert cli(embedded_stack, "ab", "model-batching", "--blocks", "3", "--studies-per-block", "2", "--concurrent", "2",
               "--resamples", "200", "--json", "--out", str(out)) == 0
    doc = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == doc and doc["kind"] == "radstream-ab"
    assert [a["name"] for a in doc["arms"]] == ["batch-1", "batch-8"]
    for arm in doc["arms"]:
        assert [b["round"] for b in arm["blocks"]] == [0, 1, 2]
        assert all(b["studies"] == 2 and b["errors"] == 0 and len(b["e2e_ms"]) == 2 for b in arm["blocks"])
    (comparison,) = doc["comparisons"]
    assert [m["metric"] for m in comparison["metrics"]] == ["p50 latency (ms)", "p95 latency (ms)",
                                                             "throughput (images/min)", "cost per image (USD)"]
    for m in comparison["metrics"]:
        assert m["low"] <= m["diff"] <= m["high"]
        assert m["verdict"].startswith("no significant difference") == (m["low"] <= 0 <= m["high"])
    assert any("rough" in note for note in doc["notes"])  # 3 blocks: said plainly
    # the original model server is back, with its original options
    stack = EmbeddedStack(embedded_stack.embedded.state_dir)
    assert stack.model_options == [] and stack.status()["model_server"]["ready"]


def test_scenarios_that_cannot_run_here_say_why(embedded_stack, capsys):
    assert cli(embedded_stack, "ab", "s3-express") == 1
    assert "S3 Express One Zone exists only on AWS" in _err(capsys)
    assert cli(embedded_stack, "ab", "lambda-memory") == 1
    assert "issue 9" in _err(capsys)
    assert cli(embedded_stack, "ab", "no-such-scenario") == 1
    assert "the scenarios are" in _err(capsys)
    assert cli(embedded_stack, "ab", "model-batching", "--blocks", "2") == 1
    assert "at least 3" in _err(capsys)


def _err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())  # rich folds long lines
