"""`radstream report` renders every section from saved results; the pipeline diagram follows the definition."""

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from radstream.tooling.report.build import ReportError, build_report
from radstream.tooling.report.diagram import CATCH, NORMAL, graph_of, layout
from support.results import ab_doc, bench_doc, workflow


def test_report_embeds_every_chart_and_writes_the_pngs_beside_it(tmp_path):
    bench, ab = tmp_path / "bench.json", tmp_path / "ab.json"
    bench.write_text(json.dumps(bench_doc()))
    ab.write_text(json.dumps(ab_doc()))
    report = build_report([bench, ab], tmp_path / "out")
    page = report.read_text()
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert "pipeline.png" in pngs and "ab1-model-batching.png" in pngs
    for kind in ("latency", "throughput", "floor", "stages", "cost"):
        assert {f"b1-c1-{kind}.png", f"b1-c4-{kind}.png"} <= set(pngs), kind
    assert "b1-levels.png" in pngs
    embedded = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(embedded) == len(pngs)  # self-contained: every chart is in the page itself
    for data in embedded:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert image.size[0] > 300 and len(np.unique(np.asarray(image.convert("L")))) > 10  # drawn, not blank
    for text in ("Targets", "PASS", "FAIL", "p95 latency", "Pipeline", "A/B model-batching", "batch-8", "verdict"):
        assert text in page, text
    assert "http" not in page.replace("https://aws.amazon.com", "")  # nothing loaded from elsewhere


def test_report_refuses_files_that_are_not_results(tmp_path):
    other = tmp_path / "x.json"
    other.write_text(json.dumps({"queries": []}))
    with pytest.raises(ReportError, match="not a result of `radstream bench --out`"):
        build_report([other], tmp_path / "out")
    with pytest.raises(ReportError, match="cannot read"):
        build_report([tmp_path / "missing.json"], tmp_path / "out")


def test_diagram_graph_is_the_definitions():
    definition = workflow()["definition"]
    g = graph_of(definition)
    assert set(g.nodes) == set(definition["States"])
    assert g.edges["ValidateMetadata", "PrepareTensors"]["kind"] == NORMAL
    assert g.edges["RunInference", "RecordFailure"]["kind"] == CATCH
    pos = layout(g, definition["StartAt"])
    main_row = sorted((x, n) for n, (x, y) in pos.items() if y == 0)
    assert [n for _, n in main_row] == ["ValidateMetadata", "PrepareTensors", "RunInference", "StoreResults",
                                        "SendTelemetry", "Done"]
    assert {n for n, (_, y) in pos.items() if y < 0} == {"RecordFailure", "DescribeFailureDirectly",
                                                         "RecordFailureDirectly", "NotifyFailure",
                                                         "SendFailureTelemetry", "StudyFailed"}
