"""The AWS deployment (CDK v2): the SageMaker inference endpoint and the API in front of it."""
