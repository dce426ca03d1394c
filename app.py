#!/usr/bin/env python3
"""CDK entry point: `make synth`, `make deploy`, `make destroy`. Settings: cdk.json's context."""

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.settings import Settings
from infra.stack import OcrStack


def build_app(context: dict | None = None) -> cdk.App:
    app = cdk.App(context=context) if context is not None else cdk.App()
    env = cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"))
    OcrStack(
        app, app.node.try_get_context("stackName") or "ZhOcrEndpoint", settings=Settings.from_context(app), env=env
    )
    # cdk-nag's AwsSolutions rules run at every synth; each remaining finding is acknowledged in
    # the construct it concerns, with its reason.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app().synth()
