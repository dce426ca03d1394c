"""`make destroy-assets`: exactly this app's uploads leave CDK's bootstrap storage."""
from infra.cleanup_assets import delete_assets
from tests.test_doctor import ACCOUNT, StubbedSession

IDENTITY = {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/dev", "UserId": "AIDAEXAMPLE"}
MANIFEST = {
    "dockerImages": {"abc": {"destinations": {"d": {
        "repositoryName": "cdk-hnb659fds-container-assets-${AWS::AccountId}-${AWS::Region}", "imageTag": "abc123"}}}},
    "files": {"zip": {"destinations": {"d": {
        "bucketName": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}", "objectKey": "89ce.zip"}}}},
}


def test_deletes_the_image_and_the_lambda_zip_of_this_app():
    session = StubbedSession()
    session.stub("sts").add_response("get_caller_identity", IDENTITY)
    repository = f"cdk-hnb659fds-container-assets-{ACCOUNT}-us-east-1"
    session.stub("ecr").add_response("batch_delete_image", {"imageIds": [{"imageTag": "abc123"}], "failures": []},
                                     {"repositoryName": repository, "imageIds": [{"imageTag": "abc123"}]})
    session.stub("s3").add_response("delete_object", {}, {"Bucket": f"cdk-hnb659fds-assets-{ACCOUNT}-us-east-1", "Key": "89ce.zip"})
    report = delete_assets(session, MANIFEST)
    assert report == [f"deleted image {repository}:abc123", f"deleted s3://cdk-hnb659fds-assets-{ACCOUNT}-us-east-1/89ce.zip"]
    for stub in session.stubs.values():
        stub.assert_no_pending_responses()


def test_dry_run_deletes_nothing():
    session = StubbedSession()
    session.stub("sts").add_response("get_caller_identity", IDENTITY)
    report = delete_assets(session, MANIFEST, dry_run=True)
    assert all(line.startswith("would delete") for line in report) and len(report) == 2


def test_real_manifest_names_the_inference_image():
    # The manifest `make synth` writes: the image and the Lambda zip are in it.
    import json
    from pathlib import Path

    from infra.cleanup_assets import assets_of
    from tests.test_infra import synth

    _, assembly = synth()
    manifest = json.loads((Path(assembly.directory) / "ZhOcrEndpoint.assets.json").read_text())
    images, files = assets_of(manifest, ACCOUNT, "eu-west-1")
    assert len(images) == 1 and images[0][0].startswith("cdk-hnb659fds-container-assets-")
    assert any(key.endswith(".zip") for _, key in files)
