"""The one redaction module (policy/databricks_guardrails/redact.py): what it hides, that it
hides all of it (no prefix, no suffix), and what it leaves readable."""

from __future__ import annotations

import pytest

from policy.databricks_guardrails.redact import names_a_secret, redact_text, redact_value

PAT = "dapi" + "0123456789abcdef" * 2
SHAPED = {
    "Databricks token": PAT,
    "Databricks token (with workspace suffix)": PAT + "-3",
    "Databricks OAuth secret": "dose" + "fedcba9876543210" * 2,
    "GitHub token": "ghp_" + "A1b2C3d4E5" * 4,
    "GitHub fine-grained token": "github_pat_" + "11ABCDEFG0" * 5,
    "JWT": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "hex secret": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "base64 secret": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ubw8xQ2Rz",
    "AWS access key": "AKIAIOSFODNN7EXAMPLE",
    "private key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
}


def _no_part_of(secret: str, text: str) -> bool:
    """No 6-character piece of `secret` in `text` (a prefix or suffix narrows a guess)."""
    pieces = {secret[i : i + 6] for i in range(len(secret) - 5)}
    return not any(piece in text for piece in pieces)


@pytest.mark.parametrize("kind", sorted(SHAPED))
def test_a_credential_shape_is_hidden_whole_wherever_it_is(kind: str) -> None:
    secret = SHAPED[kind]
    text = f"run failed: export X={secret}; see 'note {secret}' ({secret})"
    shown = redact_text(text)
    assert _no_part_of(secret, shown), shown
    assert "[redacted: " in shown and "run failed" in shown, shown


@pytest.mark.parametrize(
    "text",
    [
        "DB_PASSWORD=hunter2-but-longer",
        "db_password: hunter2-but-longer",
        '{"apiToken": "hunter2-but-longer"}',
        "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net=hunter2-but-longer",
        "client.secret = hunter2-but-longer",
        "--password hunter2-but-longer",
    ],
)
def test_the_value_of_a_key_naming_a_secret_is_hidden_in_text(text: str) -> None:
    shown = redact_text(text)
    assert "hunter2" not in shown and "[redacted: its key names a secret]" in shown, shown


@pytest.mark.parametrize(
    "url",
    [
        "https://user:Hunter2Pass@pkgs.example.com/simple",
        "--extra-index-url https://build:"
        + "a1b2c3d4e5f6g7h8" * 3
        + "abcd@pkgs.dev.azure.com/x/_packaging/y/pypi/simple/",
    ],
)
def test_credentials_inside_a_url_are_hidden_and_the_host_stays_readable(url: str) -> None:
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    shown = redact_text(f"environments[0].spec.dependencies[0]: {url}")
    assert _no_part_of(password, shown), shown
    assert "[redacted: credentials in a URL]@pkgs." in shown, shown


def test_structures_hide_by_key_by_parameter_name_and_by_shape() -> None:
    settings = {
        "spark_env_vars": {"DB_PASSWORD": "hunter2", "REGION": "eu-west-1"},
        "spark_conf": {"fs.azure.sas.token": "{{secrets/etl/sas}}"},
        "parameters": [
            {"name": "api_token", "default": "hunter2"},
            {"name": "env", "default": "prod"},
        ],
        "tags": {"note": f"temporary {PAT}"},
        "timeout_seconds": 60,
    }
    shown = redact_value(settings)
    assert "hunter2" not in str(shown) and PAT[4:] not in str(shown), shown
    assert shown["spark_env_vars"]["REGION"] == "eu-west-1"
    assert shown["parameters"][1] == {"name": "env", "default": "prod"}
    # A secret scope reference is no secret: where the secret lives is worth seeing.
    assert shown["spark_conf"] == {"fs.azure.sas.token": "{{secrets/etl/sas}}"}
    assert shown["timeout_seconds"] == 60
    assert settings["spark_env_vars"]["DB_PASSWORD"] == "hunter2", "the input was changed"
    assert redact_value("hunter2", "DB_PASSWORD") == "[redacted: its key names a secret]"


@pytest.mark.parametrize(
    "text",
    [
        "/Workspace/Production/etl-pipeline/releases/1.1.0/notebooks/main",
        "/Volumes/main_catalog/etl_schema/artifacts/releases/1.1.0/etl_pipeline-1.1.0-py3-none-any.whl",
        "release 1.1.0: notebooks/main.py changed (recorded sha256:"
        "8c35c53fcaaa907a5df615e811c082e084d6a7e8f94d9ea22b89e5a9a0e5d08d)",
        "servicePrincipalName 12345678-1234-1234-1234-123456789012",
        "tasks[main].notebook_task.notebook_path",
        "task_key=main max_concurrent_runs=1 tokenizer=bpe",
        "https://dbc-staging-0000.cloud.databricks.com/#job/42/run/4711",
        "etlPipelineOrdersDailyAggregateJob2024Version",
    ],
)
def test_paths_names_digests_and_ids_stay_readable(text: str) -> None:
    assert redact_text(text) == text


def test_which_keys_name_a_secret() -> None:
    named = ["db_password", "apiToken", "API_KEY", "client.secret", "PULUMI_CONFIG_PASSPHRASE"]
    assert all(names_a_secret(k) for k in named)
    assert not any(names_a_secret(k) for k in ["tokenizer", "task_key", "keyspace", "secretary"])


def test_workspace_paths_with_random_looking_folder_names_are_never_hidden() -> None:
    """The drift tests' folders carry a random tag; any such path must stay readable (it once
    read as a base64 secret when the tag's letters left few vowels)."""
    import random

    from policy.databricks_guardrails.redact import redact_text

    rng = random.Random(20261204)
    shapes = (
        "/Shared/etl-artifacts-{tag}/releases/1.3.0/etl_pipeline-1.3.0-py3-none-any.whl",
        "/Production/etl-pipeline-drift-{tag}/releases/1.2.0/tasks/check_source",
        "/Volumes/staging/etl_pipeline/artifacts/drift-{tag}/releases/1.3.0/notes.txt",
        "/Staging/etl-pipeline-drift-{tag}/releases/1.3.0/main",
        "folder /Production/etl-pipeline-drift-{tag}: groupName users",
        "/Shared/etl-artifacts-{tag}",
    )
    for _ in range(500):
        tag = "".join(rng.choice("0123456789abcdef") for _ in range(8))
        for shape in shapes:
            path = shape.format(tag=tag)
            assert redact_text(path) == path, path
