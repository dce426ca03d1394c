"""The job's ports on AWS: DynamoDB (JobStore), S3 (Blobs), Step Functions (start), and the
Lambda handlers the state machine runs (handlers.py). The stack that creates them is
infra/jobs/; docs/deploy.md, "Jobs on AWS", describes both."""

from .backend import backend

__all__ = ["backend"]
