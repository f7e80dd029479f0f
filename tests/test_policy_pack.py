"""The policy pack loads the way the engine loads it: the Python language host runs
`policy/venv/bin/python policy/` (policy/venv holds policy/requirements.txt only, installed by
./scripts/test as the engine's pack install does), reads the analyzer's port from its first line
of output and talks gRPC to it. This test does the same: GetAnalyzerInfo, Configure with the
pack config `cicd.policy_config` writes, Analyze and AnalyzeStack.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from cicd.config import read_stack_file
from cicd.evaluation.guardrails import pack_config
from policy.databricks_guardrails.pack import PACK_NAME, POLICIES
from tests.conftest import REPO, RUNNER

PACK = REPO / "policy"
PACK_PYTHON = PACK / "venv" / "bin" / "python"
JOB = "databricks:index/job:Job"
PIPELINE = "databricks:index/pipeline:Pipeline"
RELEASE = "/Production/etl-pipeline/releases/1.1.0"


def pins(path: str) -> dict[str, str]:
    lines = (REPO / path).read_text().splitlines()
    pairs = [line.split("==") for line in lines if "==" in line and not line.startswith("#")]
    return {name.strip().lower(): version.strip() for name, version in pairs}


def test_pack_requirements_pin_what_the_project_tests_it_with() -> None:
    pack, project = pins("policy/requirements.txt"), pins("requirements.txt")
    assert set(pack) == {"pulumi-policy", "pulumi"}, pack
    assert {name: project.get(name) for name in pack} == pack


def test_pulumi_policy_yaml_runs_python_in_the_packs_own_venv() -> None:
    project = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": "venv"},
    }
    assert project["version"] and project["description"]


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    assert PACK_PYTHON.exists(), (
        f"{PACK_PYTHON} is missing: ./scripts/test creates policy/venv from policy/requirements.txt"
    )
    # As the language host does: `python <pack dir>`, in the program's working directory.
    process = subprocess.Popen(
        [str(PACK_PYTHON), str(PACK)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        port = process.stdout.readline().strip()
        if not port.isdigit():
            process.kill()
            pytest.fail(f"the pack did not start: {port!r}\n{process.stderr.read()}")
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=10)


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def configure(analyzer: analyzer_pb2_grpc.AnalyzerStub, stack: str) -> None:
    document = pack_config(read_stack_file(REPO / f"Pulumi.{stack}.yaml"), stack)
    # Round trip through JSON: what --policy-pack-config hands the engine is a file.
    document = json.loads(json.dumps(document))
    request = analyzer_pb2.ConfigureAnalyzerRequest(
        policyConfig={
            name: analyzer_pb2.PolicyConfig(
                enforcementLevel=analyzer_pb2.MANDATORY, properties=struct(properties)
            )
            for name, properties in document.items()
        }
    )
    analyzer.Configure(request)


def job(**changes: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "name": "etl-pipeline-prod",
        "jobClusters": [
            {"jobClusterKey": "main", "newCluster": {"sparkVersion": "15.4.x-scala2.12"}}
        ],
        "tasks": [
            {
                "taskKey": "main",
                "jobClusterKey": "main",
                "notebookTask": {"notebookPath": "/Production/etl-pipeline/releases/1.1.0/main"},
            }
        ],
        "timeoutSeconds": 7200,
        "emailNotifications": {"onFailures": ["oncall@example.com"]},
        "runAs": {"servicePrincipalName": RUNNER},
    }
    inputs.update(changes)
    return inputs


def serverless_job() -> dict[str, Any]:
    """A serverless job: a notebook task without compute, a wheel task on an environment."""
    return job(
        name="etl-pipeline-prod-serverless",
        jobClusters=[],
        environments=[
            {
                "environmentKey": "default",
                "spec": {
                    "environmentVersion": "2",
                    "dependencies": [
                        "/Volumes/prod/etl_pipeline/artifacts/releases/1.1.0/etl-1.1.0-py3-none-any.whl"
                    ],
                },
            }
        ],
        tasks=[
            {"taskKey": "ingest", "notebookTask": {"notebookPath": f"{RELEASE}/ingest"}},
            {
                "taskKey": "score",
                "environmentKey": "default",
                "pythonWheelTask": {"packageName": "etl", "entryPoint": "score"},
            },
        ],
    )


def pipeline(**changes: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "name": "etl-orders",
        "catalog": "prod",
        "schema": "sales",
        "serverless": True,
        "libraries": [{"glob": {"include": f"/Workspace{RELEASE}/transformations/**"}}],
        "rootPath": f"/Workspace{RELEASE}/transformations",
        "runAs": {"servicePrincipalName": RUNNER},
    }
    inputs.update(changes)
    return inputs


def analyze(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, name: str, inputs: dict[str, Any], type_: str = JOB
) -> list[Any]:
    response = analyzer.Analyze(
        analyzer_pb2.AnalyzeRequest(
            type=type_,
            name=name,
            urn=f"urn:pulumi:prod::databricks-cicd::{type_}::{name}",
            properties=struct(inputs),
        )
    )
    return list(response.diagnostics)


def test_engine_sees_every_policy_mandatory_with_its_config_schema(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == PACK_NAME and info.supportsConfig
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert levels == {p.name: analyzer_pb2.MANDATORY for p in POLICIES}
    schemas = {p.name: sorted(p.configSchema.required) for p in info.policies}
    assert schemas["job-runs-released-code"] == ["libraryRoot", "notebookRoot"]
    assert schemas["pipeline-runs-released-code"] == ["libraryRoot", "notebookRoot"]
    assert schemas["jobs-and-pipelines-run-one-release"] == ["libraryRoot", "notebookRoot"]
    assert schemas["job-and-pipeline-names-unique"] == []


def test_engine_reports_a_violation_with_the_packs_message(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    configure(analyzer, "prod")
    assert analyze(analyzer, "pipeline-job", job()) == []
    diagnostics = analyze(analyzer, "pipeline-job", job(runAs={"userName": "alice@example.com"}))
    assert [d.policyName for d in diagnostics] == ["job-runs-as-service-principal"]
    assert diagnostics[0].enforcementLevel == analyzer_pb2.MANDATORY
    assert (
        "'pipeline-job': runAs.userName is 'alice@example.com'; a job runs as a service principal"
        in diagnostics[0].message
    ), diagnostics[0].message


def test_engine_applies_the_stack_files_roots(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    configure(analyzer, "staging")
    prod_path = job()  # its notebook is under prod's root, not staging's
    diagnostics = analyze(analyzer, "pipeline-job", prod_path)
    assert [d.policyName for d in diagnostics] == ["job-runs-released-code"]
    assert "under '/Staging/etl-pipeline/releases/'" in diagnostics[0].message


def test_engine_passes_a_serverless_job_and_a_pipeline(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    configure(analyzer, "prod")
    assert analyze(analyzer, "pipeline-job-refresh-job", serverless_job()) == []
    assert analyze(analyzer, "pipeline-lakeflow-orders-pipeline", pipeline(), PIPELINE) == []
    diagnostics = analyze(
        analyzer,
        "pipeline-lakeflow-orders-pipeline",
        pipeline(runAs={"userName": "alice@example.com"}),
        PIPELINE,
    )
    assert [d.policyName for d in diagnostics] == ["pipeline-runs-as-service-principal"]
    assert "runAs.userName is 'alice@example.com'" in diagnostics[0].message


def analyzer_resource(type_: str, name: str, inputs: dict[str, Any]) -> Any:
    return analyzer_pb2.AnalyzerResource(
        type=type_,
        name=name,
        urn=f"urn:pulumi:prod::databricks-cicd::{type_}::{name}",
        properties=struct(inputs),
    )


def test_engine_runs_the_stack_policies(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    configure(analyzer, "prod")
    # A copy of the main job that keeps its name, and a pipeline left on release 1.0.0 while
    # both jobs and the serverless one run 1.1.0.
    resources = [
        analyzer_resource(JOB, "pipeline-job", job()),
        analyzer_resource(JOB, "backfill-job", job()),
        analyzer_resource(JOB, "pipeline-job-refresh-job", serverless_job()),
        analyzer_resource(
            PIPELINE,
            "pipeline-lakeflow-orders-pipeline",
            json.loads(json.dumps(pipeline()).replace("/releases/1.1.0/", "/releases/1.0.0/")),
        ),
    ]
    response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources))
    found = sorted((d.policyName, d.urn.rsplit("::", 1)[-1]) for d in response.diagnostics)
    assert found == [
        ("job-and-pipeline-names-unique", "backfill-job"),
        ("job-and-pipeline-names-unique", "pipeline-job"),
        ("jobs-and-pipelines-run-one-release", "pipeline-lakeflow-orders-pipeline"),
    ], [d.message for d in response.diagnostics]
    release = next(d for d in response.diagnostics if "one-release" in d.policyName)
    assert "in release '1.0.0'" in release.message and "release '1.1.0'" in release.message
