"""`radstream soak` on the session's stack, small: the command runs its faults (a 5 s model-server outage,
a duplicate-upload race, an unchanged resubmission) and its checks, and says everything added up.
`make soak` is the real run (500 studies, 16 in flight)."""

import json

from radstream.tooling.cli import main


def test_a_small_soak_loses_nothing(embedded_stack, capsys):
    assert main(["--state-dir", str(embedded_stack.embedded.state_dir), "soak", "--studies", "12", "--concurrent", "4",
                 "--outage", "5", "--races", "2", "--resubmits", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["studies"] == 14 and report["succeeded"] == 14
    assert (report["lost"], report["duplicated"], report["mixed_up"]) == ([], [], [])
    assert report["races"] == 2 and report["races_refused"] == 2 and report["resubmits_same_record"] == 2
    assert report["outage_s"] >= 5 and report["first_success_after_restart_s"] is not None
    assert embedded_stack.embedded.model_server.healthy()
