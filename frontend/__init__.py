"""The Lambda frontend: validates requests, fetches URLs safely, calls the SageMaker endpoint."""
