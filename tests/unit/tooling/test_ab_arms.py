"""How `radstream ab` applies its arms: template parameters go through a deploy with overrides (never a
direct function update), only when they change, and the deployed values come back afterwards, also
when a block is interrupted."""

import pytest

from radstream.definition import template as cfn
from radstream.tooling.bench import ab
from radstream.tooling.errors import ExperimentError


class FakeTarget:
    name = "embedded"

    def client(self, service):
        return object()


@pytest.fixture
def deployments(monkeypatch):
    """Every deploy ab asks for (its overrides), against a stack deployed with ``deployed`` parameters."""
    calls: list[dict] = []
    deployed = {"PrepareTensorsMemorySize": "1536", "ModelEndpoint": "http://m"}
    monkeypatch.setattr(ab.deployment, "describe", lambda cf, name: {"Parameters": [
        {"ParameterKey": k, "ParameterValue": v} for k, v in deployed.items()]})
    monkeypatch.setattr(ab.deployment, "deploy", lambda target, overrides, report: calls.append(dict(overrides)))
    monkeypatch.setattr(ab.deployment, "wait_settled", lambda *args, **kwargs: "UPDATE_COMPLETE")
    return calls


def test_parameter_arms_deploy_overrides_only_when_they_change_and_restore_what_was_deployed(deployments):
    scenario = ab.SCENARIOS["lambda-memory"]
    arms = ab.Arms(FakeTarget(), stack=None, scenario=scenario)
    small, large = scenario.arms
    arms.apply(small)
    arms.apply(small)   # already deployed: no second change set
    arms.apply(large)
    arms.restore()
    assert deployments == [{"PrepareTensorsMemorySize": "1024"}, {"PrepareTensorsMemorySize": "2048"},
                           {"PrepareTensorsMemorySize": "1536"}]  # the deployed value, not the default
    assert arms.describe_original() == "PrepareTensorsMemorySize=1536"


def test_a_parameter_never_deployed_is_restored_to_the_template_default(deployments):
    arms = ab.Arms(FakeTarget(), stack=None, scenario=ab.SCENARIOS["workflow-type"])
    arms.apply(ab.SCENARIOS["workflow-type"].arms[1])
    arms.restore()
    assert deployments == [{"WorkflowType": "EXPRESS"}, {"WorkflowType": cfn.parameter_defaults()["WorkflowType"]}]
    assert cfn.parameter_defaults()["WorkflowType"] == "STANDARD"


def test_an_interrupted_block_still_restores_the_deployment(deployments, monkeypatch):
    """Ctrl-C in the middle of the Express arm's block: Standard (never deployed explicitly: the default) is back."""
    monkeypatch.setattr(ab, "describe_workflow", lambda target: {"available": True, "type": "STANDARD"})
    monkeypatch.setattr(ab, "load_studies", lambda image_dir, count, tag: [])
    monkeypatch.setattr(ab, "run_batch", lambda *args, **kwargs: [])

    def measure(*args, **kwargs):
        if deployments and deployments[-1] == {"WorkflowType": "EXPRESS"}:
            raise KeyboardInterrupt
        return {"studies": 0, "errors": {"count": 0}, "timeline": [], "latency_ms": {"p50": 1, "p95": 1},
                "throughput": {"sustained_per_min": 1}, "cost": {"total_per_image_usd": 0, "per_image_usd": {}},
                "stages": {}}

    monkeypatch.setattr(ab, "measure", measure)
    with pytest.raises(KeyboardInterrupt):
        ab.run_ab(FakeTarget(), None, ab.SCENARIOS["workflow-type"], blocks=3, studies_per_block=2, concurrency=1,
                  pricing=None)
    assert deployments == [{"WorkflowType": "EXPRESS"}, {"WorkflowType": "STANDARD"}]


def test_restore_tries_every_part_and_names_what_failed(deployments, monkeypatch):
    class Server:
        restored = False

        def apply(self, arm):
            pass

        def restore(self):
            self.restored = True

        def describe_original(self):
            return "model server defaults"

    arms = ab.Arms(FakeTarget(), stack=None, scenario=ab.SCENARIOS["lambda-memory"])
    server = Server()
    arms.parts.insert(0, server)
    arms.apply(ab.SCENARIOS["lambda-memory"].arms[1])

    def broken(target, overrides, report):
        raise RuntimeError("change set refused")

    monkeypatch.setattr(ab.deployment, "deploy", broken)
    with pytest.raises(ExperimentError, match="PrepareTensorsMemorySize=1536: change set refused"):
        arms.restore()
    assert server.restored


def test_no_stack_no_experiment(monkeypatch):
    monkeypatch.setattr(ab.deployment, "describe", lambda cf, name: None)
    with pytest.raises(ExperimentError, match="no RadStream stack is deployed"):
        ab.Arms(FakeTarget(), stack=None, scenario=ab.SCENARIOS["lambda-memory"])


def test_every_arm_parameter_is_a_template_parameter_and_defaults_are_an_arm():
    defaults = cfn.parameter_defaults()
    for scenario in ab.SCENARIOS.values():
        keys = {k for arm in scenario.arms for k, _ in arm.parameters}
        for key in keys:
            assert key in defaults, (scenario.name, key)
            # the first arm is the deployment as it ships: the baseline every comparison is against
            assert dict(scenario.arms[0].parameters)[key] == defaults[key], (scenario.name, key)


def test_where_scenarios_run():
    assert ab.scenario("lambda-memory", "embedded").name == "lambda-memory"
    assert ab.scenario("workflow-type", "embedded").name == "workflow-type"
    for target in ("embedded", "localstack"):
        with pytest.raises(ExperimentError, match="S3 Express One Zone exists only on AWS"):
            ab.scenario("s3-express", target)
    chosen = ab.scenario("s3-express", "aws")
    assert "TensorStorageZoneId=<zone id" in chosen.precondition({"TensorStorageZoneId": ""})
    assert chosen.precondition({"TensorStorageZoneId": "use1-az4"}) is None


def test_the_cost_component_a_scenario_acts_on_is_compared_on_its_own():
    def block(round_no, total, lam):
        return {"round": round_no, "e2e_ms": [100.0, 120.0, 130.0], "throughput_per_min": 60.0,
                "cost_per_image_usd": total, "cost": {"lambda": lam, "s3_requests": None}}

    a = [block(0, 1e-4, 1e-6), block(1, 1.2e-4, 1.1e-6), block(2, 0.9e-4, 0.9e-6)]
    b = [block(0, 1e-4, 2e-6), block(1, 1.1e-4, 2.1e-6), block(2, 1.0e-4, 1.9e-6)]
    metrics = {d.metric: d for d in ab.compare(a, b, 0.95, 200, 0, ("lambda", "s3_requests"))}
    assert "s3_requests cost per image (USD)" not in metrics  # not measured: left out, not zero
    assert metrics["lambda cost per image (USD)"].diff == pytest.approx(1e-6)
    assert metrics["lambda cost per image (USD)"].low > 0
