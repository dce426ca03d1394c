"""`make destroy-assets`: exactly this app's uploads leave CDK's bootstrap storage."""

import pytest

from infra.cleanup_assets import delete_assets
from tests.test_doctor import ACCOUNT, StubbedSession

IDENTITY = {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/dev", "UserId": "AIDAEXAMPLE"}
MANIFEST = {
    "dockerImages": {
        "abc": {
            "destinations": {
                "d": {
                    "repositoryName": "cdk-hnb659fds-container-assets-${AWS::AccountId}-${AWS::Region}",
                    "imageTag": "abc123",
                }
            }
        }
    },
    "files": {
        "zip": {
            "destinations": {
                "d": {"bucketName": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}", "objectKey": "89ce.zip"}
            }
        }
    },
}


def test_deletes_the_image_and_the_lambda_zip_of_this_app():
    session = StubbedSession()
    session.stub("sts").add_response("get_caller_identity", IDENTITY)
    repository = f"cdk-hnb659fds-container-assets-{ACCOUNT}-us-east-1"
    session.stub("ecr").add_response(
        "batch_delete_image",
        {"imageIds": [{"imageTag": "abc123"}], "failures": []},
        {"repositoryName": repository, "imageIds": [{"imageTag": "abc123"}]},
    )
    session.stub("s3").add_response(
        "delete_object", {}, {"Bucket": f"cdk-hnb659fds-assets-{ACCOUNT}-us-east-1", "Key": "89ce.zip"}
    )
    report = delete_assets(session, MANIFEST)
    assert report == [
        f"deleted image {repository}:abc123",
        f"deleted s3://cdk-hnb659fds-assets-{ACCOUNT}-us-east-1/89ce.zip",
    ]
    for stub in session.stubs.values():
        stub.assert_no_pending_responses()


def test_dry_run_deletes_nothing():
    session = StubbedSession()
    session.stub("sts").add_response("get_caller_identity", IDENTITY)
    report = delete_assets(session, MANIFEST, dry_run=True)
    assert all(line.startswith("would delete") for line in report) and len(report) == 2


@pytest.mark.infra
def test_real_manifest_names_the_inference_image(synthesized_app):
    # The manifest `make synth` writes: the image and the Lambda zip are in it.
    import json
    from pathlib import Path

    from infra.cleanup_assets import assets_of

    _, assembly = synthesized_app
    manifest = json.loads((Path(assembly.directory) / "ZhOcrEndpoint.assets.json").read_text())
    images, files = assets_of(manifest, ACCOUNT, "eu-west-1")
    assert len(images) == 1 and images[0][0].startswith("cdk-hnb659fds-container-assets-")
    assert any(key.endswith(".zip") for _, key in files)


def _manifest_in(tmp_path, monkeypatch):
    """A synthesized app (cdk.out/ZhOcrEndpoint.assets.json) in a tree of its own."""
    import json

    from infra import cleanup_assets

    (tmp_path / "cdk.out").mkdir()
    (tmp_path / "cdk.out" / "ZhOcrEndpoint.assets.json").write_text(json.dumps(MANIFEST))
    monkeypatch.setattr(cleanup_assets, "ROOT", tmp_path)


def _environment(tmp_path, monkeypatch, **variables):
    import os

    from tests.test_doctor import aws_environment

    env = aws_environment(tmp_path, **variables)
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize("variables", [{}, {"AWS_REGION": "us-east-1"}])
def test_without_credentials_it_says_what_to_do_and_deletes_nothing(tmp_path, monkeypatch, capsys, variables):
    # It printed a 53-line traceback (NoCredentialsError from sts).
    from infra.cleanup_assets import main

    _manifest_in(tmp_path, monkeypatch)
    _environment(tmp_path, monkeypatch, **variables)
    assert main([]) != 0
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and 1 <= len(lines) <= 2, err
    assert ("AWS_REGION" if not variables else "aws configure") in lines[0]
    assert "make doctor" in err and "Nothing was deleted" in err


def test_assets_are_deleted_in_the_region_aws_region_names(tmp_path, monkeypatch, capsys):
    # As `AWS_REGION=eu-west-1 make destroy-assets` runs after `AWS_REGION=eu-west-1 make deploy`:
    # the bootstrap storage of eu-west-1, where cdk pushed them.
    from moto import mock_aws

    from infra.cleanup_assets import main

    _manifest_in(tmp_path, monkeypatch)
    _environment(
        tmp_path, monkeypatch, AWS_REGION="eu-west-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
    )
    with mock_aws():
        assert main(["--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith("would delete") and "-eu-west-1" in line for line in lines), lines
