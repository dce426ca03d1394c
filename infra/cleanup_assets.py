"""`make destroy-assets`: delete what `make deploy` uploaded into CDK's bootstrap storage.

`cdk destroy` removes the stack, but not its assets: the inference image (several GB) stays in
the bootstrap ECR repository, tagged, never expiring, and the Lambda zip in the bootstrap
bucket. They are shared storage, so nothing deletes them by itself. This deletes exactly the
assets of this app as it is now synthesized (cdk.out/<stack>.assets.json: the same content
hashes the deploy pushed), and nothing else. Assets of older versions are not named there: for
those, CDK's `cdk gc` removes every asset no stack uses any more.

    python -m infra.cleanup_assets [--stack ZhOcrEndpoint] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def assets_of(manifest: dict, account: str, region: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """([(repository, tag)], [(bucket, key)]) that a deploy of this manifest uploaded."""

    def fill(text: str) -> str:
        return (
            text.replace("${AWS::AccountId}", account)
            .replace("${AWS::Region}", region)
            .replace("${AWS::Partition}", "aws")
        )

    images, files = [], []
    for asset in manifest.get("dockerImages", {}).values():
        for destination in asset["destinations"].values():
            images.append((fill(destination["repositoryName"]), fill(destination["imageTag"])))
    for asset in manifest.get("files", {}).values():
        for destination in asset["destinations"].values():
            files.append((fill(destination["bucketName"]), fill(destination["objectKey"])))
    return images, files


def delete_assets(session, manifest: dict, dry_run: bool = False) -> list[str]:
    """Delete them; returns one line per asset saying what happened."""
    from botocore.exceptions import ClientError

    account = session.client("sts").get_caller_identity()["Account"]
    images, files = assets_of(manifest, account, session.region_name)
    ecr, s3 = session.client("ecr"), session.client("s3")
    report = []
    for repository, tag in images:
        if dry_run:
            report.append(f"would delete image {repository}:{tag}")
            continue
        try:
            answer = ecr.batch_delete_image(repositoryName=repository, imageIds=[{"imageTag": tag}])
        except ClientError as exc:
            report.append(f"image {repository}:{tag}: {exc.response['Error']['Code']}")
            continue
        gone = bool(answer.get("imageIds"))
        report.append(f"deleted image {repository}:{tag}" if gone else f"image {repository}:{tag}: not there")
    for bucket, key in files:
        if dry_run:
            report.append(f"would delete s3://{bucket}/{key}")
            continue
        try:
            s3.delete_object(Bucket=bucket, Key=key)
            report.append(f"deleted s3://{bucket}/{key}")
        except ClientError as exc:
            report.append(f"s3://{bucket}/{key}: {exc.response['Error']['Code']}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.cleanup_assets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="ZhOcrEndpoint")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--profile", help="the AWS profile, as cdk's --profile (default: AWS_PROFILE, or default)")
    args = parser.parse_args(argv)
    path = ROOT / "cdk.out" / f"{args.stack}.assets.json"
    if not path.is_file():
        print(
            f"no {path.relative_to(ROOT)}: run `make synth` first (from the same tree that was deployed)",
            file=sys.stderr,
        )
        return 2
    from botocore.exceptions import BotoCoreError, ClientError

    from .doctor import Doctor, preflight_session

    # The account and region the assets were pushed to, found as the AWS CLI and cdk find them;
    # without credentials or a region, say what to do in two lines, not a traceback.
    session, problem = preflight_session(args.profile)
    doctor = Doctor(None, session)  # type: ignore[arg-type]  # credentials() reads no settings
    if problem or not doctor.credentials():
        print((problem or doctor.findings[-1]).line(), file=sys.stderr)
        print(
            "Nothing was deleted: `make destroy-assets` needs the credentials and region of the account the app was "
            "deployed to; `make doctor` checks them.",
            file=sys.stderr,
        )
        return 1
    try:
        for line in delete_assets(session, json.loads(path.read_text()), args.dry_run):
            print(line)
    except (BotoCoreError, ClientError) as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
