"""The stack as the harness deploys it: synthesized as the CDK CLI does for one region and
account, less what moto's CloudFormation cannot create (world.py says what is played instead)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ADMIN = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}
# What moto's CloudFormation creates for us; everything else is left out.
CREATED_BY_MOTO = {
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SNS::Topic",
    "AWS::StepFunctions::StateMachine",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
}


def synthesize(settings: dict) -> dict:
    """The stack's template as the CDK CLI synthesizes it for REGION and ACCOUNT."""
    sys.path.insert(0, str(ROOT))
    from app import build_app

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    saved = {k: os.environ.get(k) for k in ("CDK_DEFAULT_REGION", "CDK_DEFAULT_ACCOUNT")}
    os.environ.update(CDK_DEFAULT_REGION=REGION, CDK_DEFAULT_ACCOUNT=ACCOUNT)
    try:
        assembly = build_app({**context, **settings}).synth()
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value
    return assembly.get_stack_by_name("ZhOcrEndpoint").template


def _refs(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(item[0] if isinstance(item, list) else item.split(".")[0])
            else:
                _refs(item, found)
    elif isinstance(value, list):
        for item in value:
            _refs(item, found)


def deployable(template: dict) -> dict:
    """The template less what moto cannot create; AssertionError if a kept resource needs one."""
    kept = {k: copy_of(v) for k, v in template["Resources"].items() if v["Type"] in CREATED_BY_MOTO}
    for logical, resource in kept.items():
        found: set[str] = set()
        _refs(resource.get("Properties", {}), found)
        missing = sorted(
            r for r in found if r not in kept and not r.startswith("AWS::") and r not in template.get("Parameters", {})
        )
        assert not missing, f"{logical} refers to {missing}, which moto cannot create"
        if "DependsOn" in resource:
            depends = resource["DependsOn"] if isinstance(resource["DependsOn"], list) else [resource["DependsOn"]]
            resource["DependsOn"] = [d for d in depends if d in kept]
    return {"Parameters": template.get("Parameters", {}), "Resources": kept}


def copy_of(value: Any) -> Any:
    return json.loads(json.dumps(value))
