"""`make serve`: the deployed API, on this machine, with no AWS account."""
