"""What the jobs API answers of a job (ocr_contract/jobs.py): POST /jobs's 202 and GET
/jobs/{jobId}'s status, with the URLs of its status and its result on the API it was asked on."""

from __future__ import annotations

from ocr_contract.jobs import JOB, JOB_RESULT

from .model import Job


def status_url(job_id: str, base_url: str, result: bool = False) -> str:
    """The job's URL on the API at `base_url`: its status, or with `result` its result
    (GET /jobs/{jobId}/result, a redirect to the result signed when asked)."""
    return base_url.rstrip("/") + (JOB_RESULT if result else JOB).format(jobId=job_id)


def submitted_body(job: Job, base_url: str) -> dict:
    """The 202 answer of POST /jobs."""
    return {"jobId": job.job_id, "status": job.status, "statusUrl": status_url(job.job_id, base_url)}


def status_body(job: Job, base_url: str) -> dict:
    """The answer of GET /jobs/{jobId}; resultUrl once finished: the API's own result route at
    `base_url`, which redirects to a URL signed when it is asked for, so it works for as long as
    the job is kept (a URL presigned here would die with the credentials that signed it)."""
    body: dict = {
        "jobId": job.job_id,
        "status": job.status,
        "documentsTotal": job.documents_total,
        "documentsDone": job.documents_done,
        "pagesTotal": job.pages_total,
        "pagesDone": job.pages_done,
        "pagesFailed": job.pages_failed,
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
    }
    if job.finished and job.result_key:
        body["resultUrl"] = status_url(job.job_id, base_url, result=True)
    if job.error:
        body["error"] = {"code": str(job.error.get("code", "")), "message": str(job.error.get("message", ""))}
    return body
