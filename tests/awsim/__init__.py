"""An AWS account offline, for the deployed stack: moto, IAM enforced, the state machine run."""
