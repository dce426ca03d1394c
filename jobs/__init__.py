"""Jobs: asynchronous and bulk OCR of documents and S3 prefixes (the jobs API).

The job's logic (steps.py) is written once against ports (ports.py) and does not know where it
runs: in AWS the ports are DynamoDB, S3, SageMaker Asynchronous Inference and Step Functions
(jobs/aws/), on a laptop a SQLite file, a folder, the local inference server and a thread pool
(jobs/local/). The contract (request, status, result lines) is ocr_contract/jobs.py.
"""
