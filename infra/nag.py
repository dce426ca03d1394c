"""Acknowledging cdk-nag findings: each one on the construct it concerns, with its reason.

cdk-nag 3 matches an acknowledgement by its exact finding text, and a wildcard finding (IAM5)
quotes the policy's resource as it resolves: `arn:aws:states:us-east-1:<AWS::AccountId>:...`
under the CDK CLI (which gives the stack a region), `arn:<AWS::Partition>:states:<AWS::Region>:...`
without one. A wildcard is therefore acknowledged by a regular expression over that text
(cdk-nag 2's `appliesTo` regex), matched against the policies as they resolve, once the stack is
built (`settle`): the same reason holds in every region, account and partition, and a wildcard
no pattern names still fails the synth.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct

RULE = "AwsSolutions-IAM5"
# What a partition, region or account is in a finding: a literal, or its pseudo parameter.
PARTITION = r"(aws[a-z-]*|<AWS::Partition>)"
REGION = r"([a-z]{2}(-[a-z]+)+-\d|<AWS::Region>)"
ACCOUNT = r"(\d{12}|<AWS::AccountId>)"

# Stack address -> [(scope path, pattern, reason)], consumed by settle().
_PATTERNS: dict[str, list[tuple[str, re.Pattern[str], str]]] = {}


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def acknowledge_wildcards(scope: IConstruct, pattern: str, reason: str) -> None:
    """Acknowledge every IAM5 finding (`Resource::...` or `Action::...`) of the IAM policies at
    or under `scope` whose text matches `pattern` (a regular expression, matched whole); see
    PARTITION, REGION and ACCOUNT. Takes effect at settle()."""
    stack = Stack.of(scope)
    _PATTERNS.setdefault(stack.node.addr, []).append((scope.node.path, re.compile(pattern), reason))


def flatten(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag writes it in a finding (its
    flattenCfnReference): Fn::Join joined, Ref and Fn::GetAtt as <Id> and <Id.Attr>, ${x} as <x>."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return delimiter.join(flatten(item) for item in items)
        if "Fn::Sub" in value:
            return flatten(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten(resource)}.{flatten(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def wildcard_findings(document: dict) -> list[str]:
    """The IAM5 findings of a resolved policy document, as cdk-nag names them."""
    found: list[str] = []
    for statement in document.get("Statement", []) or []:
        if statement.get("Effect") != "Allow":
            continue
        for action in _listed(statement.get("Action", [])):
            if isinstance(action, str) and "*" in action and f"Action::{action}" not in found:
                found.append(f"Action::{action}")
        for resource in _listed(statement.get("Resource", [])):
            text = flatten(resource)
            if "*" in text and f"Resource::{text}" not in found:
                found.append(f"Resource::{text}")
    return found


def _documents(node: CfnResource) -> list[dict]:
    stack = Stack.of(node)
    if isinstance(node, (iam.CfnPolicy, iam.CfnManagedPolicy)):
        return [stack.resolve(node.policy_document)]
    if isinstance(node, iam.CfnRole):
        return [stack.resolve(stack.resolve(p)["policyDocument"]) for p in stack.resolve(node.policies) or []]
    return []


def _walk(node: IConstruct):
    yield node
    for child in node.node.children:
        yield from _walk(child)


def settle(stack: Stack) -> None:
    """Acknowledge the wildcards that acknowledge_wildcards named, on each IAM policy of the
    stack as it resolves now: call it once the stack's constructs and grants are all made."""
    patterns = _PATTERNS.pop(stack.node.addr, [])
    for node in _walk(stack):
        if not isinstance(node, CfnResource):
            continue
        path = node.node.path
        mine = [(p, reason) for scope, p, reason in patterns if path == scope or path.startswith(scope + "/")]
        if not mine:
            continue
        for document in _documents(node):
            for finding in wildcard_findings(document):
                text = finding.split("::", 1)[1]
                for pattern, reason in mine:
                    if pattern.fullmatch(text):
                        acknowledge(node, f"{RULE}[{finding}]", reason)
                        break
