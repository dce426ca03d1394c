"""The inference server: SageMaker's container contract over aiohttp.

    GET  /ping           200 once the models are loaded, 503 before
    POST /invocations    raw image bytes -> JSON array of lines (CustomAttributes, in
                         ocr_contract/protocol.py, ask for plates or a document's pages instead)

SageMaker's runtime API in front of it (its limits, its ModelError) is AWS's in AWS, and
local/sagemaker_runtime.py's under `make serve`.

The port is 8080 or SAGEMAKER_BIND_TO_PORT. It listens at once and loads the models in the
background, so /ping answers 503 (and invocations ModelNotReady) until they are loaded.
Inference runs in a thread pool off the event loop; /ping stays responsive meanwhile. Work
beyond the pool plus a bounded queue is refused with 503 rather than piling up.

Every request has a deadline: OCR_REQUEST_TIMEOUT_S (default 25 s, inside API Gateway's 29 s),
or less when the caller says how long it will wait (the Lambda sends `timeoutMs=` in SageMaker's
CustomAttributes). Past it the request is answered 504 Timeout and its slot is freed; the
engine stops at its next model call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from documents.render import RENDER_SLOTS_ENV, set_render_slots
from ocr_contract import MAX_IMAGE_BYTES, ApiError, ErrorCode, image_too_large
from ocr_contract.jobs import MAX_DOCUMENT_BYTES
from ocr_contract.protocol import InvokeOptions

from ..config import EngineConfig
from ..engine import OcrEngine
from ..images import decode_image
from ..runtime.deadline import DeadlineExceeded
from .admission import Admission
from .document_pages import read_document
from .http_io import install_json_protocol_errors, read_body

log = logging.getLogger("inference.server")
access_log = logging.getLogger("inference.access")

STATE = web.AppKey("state", dict)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
ADMISSION = web.AppKey("admission", Admission)
SETTINGS = web.AppKey("settings", dict)
REQUEST_ID = web.RequestKey("request_id", str)

ACCEPTED_TYPES = ("image/", "application/octet-stream", "application/x-image")
DEFAULT_TIMEOUT_S = 25.0
# task=document (a range of pages, asynchronous inference): SageMaker lets an asynchronous
# invocation run up to an hour; the job steps ask for far less (RANGE_PAGES pages).
DOCUMENT_TIMEOUT_S = 900.0
# Answer this long before the caller's own timeout, so that it reads our JSON 504, not a cut.
CALLER_MARGIN_S = 0.5


def _options(request: web.Request) -> InvokeOptions:
    """The caller's options (ocr_contract.protocol), from SageMaker's CustomAttributes header."""
    return InvokeOptions.parse(request.headers.get("X-Amzn-SageMaker-Custom-Attributes"))


def _request_id(request: web.Request) -> str:
    """The caller's id when it sends one (the Lambda passes its own through SageMaker's
    CustomAttributes header), so one id follows a request through every log."""
    try:
        given = _options(request).request_id
    except ApiError:
        given = ""
    given = given or "".join(
        c for c in request.headers.get("X-Request-Id", "")[:128] if c.isascii() and c.isprintable()
    )
    return given or str(uuid.uuid4())


def _timeout_s(request: web.Request, options: InvokeOptions) -> float:
    """This request's time budget: the server's own, or less when the caller waits less."""
    # A document range (the jobs API, SageMaker Asynchronous Inference) has minutes, not seconds.
    own = request.app[SETTINGS]["document_timeout_s" if options.task == "document" else "timeout_s"]
    if options.timeout_ms is None:
        return own
    return max(0.1, min(own, options.timeout_ms / 1000 - CALLER_MARGIN_S))


def _error(error: ApiError, request_id: str) -> web.Response:
    return web.json_response(error.body(request_id), status=error.status, headers={"X-Request-Id": request_id})


@web.middleware
async def errors_as_json(request: web.Request, handler):
    return await _errors_as_json(request, handler)


async def _errors_as_json(request: web.Request, handler):
    """Every answer is JSON: unknown paths, wrong methods and unexpected failures included."""
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(exc, request_id)
    except web.HTTPNotFound:
        return _error(ApiError(ErrorCode.NOT_FOUND, f"no such path: {request.path}"), request_id)
    except web.HTTPMethodNotAllowed as exc:
        return _error(
            ApiError(
                ErrorCode.METHOD_NOT_ALLOWED,
                f"{request.method} is not allowed on {request.path}; use {', '.join(sorted(exc.allowed_methods))}",
            ),
            request_id,
        )
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error, requestId=%s", request_id)
        return _error(ApiError(ErrorCode.INTERNAL_ERROR, f"internal error; quote requestId {request_id}"), request_id)


async def ping(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if state.get("engine") is None:
        return web.json_response({"status": "loading" if not state.get("failed") else "failed"}, status=503)
    engine = state["engine"]
    return web.json_response({"status": "ok", "provider": engine.provider, "precision": engine.rec_precision})


def _run_ocr(
    engine: OcrEngine, data: bytes, deadline: float, options: InvokeOptions
) -> tuple[list | dict, tuple[int, int]]:
    # `detail`: each line's corners and its characters' (the other APIs' doors).
    image = decode_image(data)
    if options.tables:  # `tables=1`: {"lines": [...], "tables": [...]} (ocr_contract.protocol)
        lines, tables = engine.read_tables(image, deadline=deadline, detail=options.detail, lang=options.lang)
        return {"lines": lines, "tables": tables}, (image.shape[1], image.shape[0])
    lines = engine.read(image, deadline=deadline, detail=options.detail, lang=options.lang)  # lang=ko: Korean too
    return [line.to_api(options.detail) for line in lines], (image.shape[1], image.shape[0])


def _run_plates(
    engine: OcrEngine, data: bytes, deadline: float, options: InvokeOptions
) -> tuple[list, tuple[int, int]]:
    image = decode_image(data)  # `country=kr`: only Korean plates
    return engine.read_plates(image, deadline=deadline, country=options.country), (image.shape[1], image.shape[0])


# CustomAttributes `task`: what to read (the main API and the general doors read lines).
TASKS = {"lines": _run_ocr, "plates": _run_plates, "document": read_document}


def _timed_out(timeout_s: float) -> ApiError:
    return ApiError(
        ErrorCode.TIMEOUT,
        f"the image could not be read within {timeout_s:.1f} s; "
        "send a smaller image or retry when the service is less busy",
    )


async def invocations(request: web.Request) -> web.Response:
    start = time.perf_counter()
    request_id = request[REQUEST_ID]
    record = {"requestId": request_id, "path": request.path, "bytes": 0}
    status = 500
    try:
        content_type = request.headers.get("Content-Type", "application/octet-stream").lower()
        if not content_type.startswith(ACCEPTED_TYPES):
            raise ApiError(
                ErrorCode.INVALID_REQUEST,
                f"Content-Type {content_type!r} is not accepted; send the raw image bytes as image/* or application/octet-stream",
            )
        state = request.app[STATE]
        engine = state.get("engine")
        if engine is None:
            raise ApiError(ErrorCode.MODEL_NOT_READY, "the OCR models are still loading; retry in a few seconds")
        options = _options(request)
        timeout_s = _timeout_s(request, options)
        deadline = time.monotonic() + timeout_s
        try:
            # A document (the jobs API) may be as large as a job takes; an image, 10 MiB.
            limit = MAX_DOCUMENT_BYTES if options.task == "document" else MAX_IMAGE_BYTES
            data = await asyncio.wait_for(read_body(request, limit, image_too_large), timeout_s)
        except TimeoutError:  # the body did not arrive within the deadline
            raise _timed_out(timeout_s) from None
        record.update(bytes=len(data), lane=options.lane)
        admission = request.app[ADMISSION]
        admission.admit(options.lane)

        async def admitted():
            async with admission.worker(options.lane):
                return await asyncio.get_running_loop().run_in_executor(
                    request.app[EXECUTOR], TASKS[options.task], engine, data, deadline, options
                )

        try:
            # Waiting for a worker counts against the deadline too. At the deadline the worker is
            # freed even if the work is still running; the engine gives up at its next model call.
            result, (width, height) = await asyncio.wait_for(admitted(), max(0.0, deadline - time.monotonic()))
        except (TimeoutError, DeadlineExceeded):
            raise _timed_out(timeout_s) from None
        finally:
            admission.leave(options.lane)
        if isinstance(result, dict):
            record.update(
                {"width": width, "height": height, "lines": len(result["lines"]), "tables": len(result["tables"])}
            )
        else:
            record.update({"width": width, "height": height, "lines": len(result)})
        status = 200
        return web.json_response(
            result, headers={"X-Request-Id": request_id}, dumps=lambda obj: json.dumps(obj, ensure_ascii=False)
        )
    except ApiError as exc:
        status = exc.status
        record["error"] = exc.code.value
        raise
    finally:
        record.update({"status": status, "ms": round(1000 * (time.perf_counter() - start), 1)})
        access_log.info(json.dumps(record))


def _load_engine(app: web.Application, config: EngineConfig) -> None:
    state = app[STATE]
    try:
        engine = OcrEngine(config)
        engine.warm_up()
        state["engine"] = engine
        log.info(
            "models loaded, provider %s, recogniser %s, %d worker(s)",
            engine.provider,
            engine.rec_precision,
            app[SETTINGS]["workers"],
        )
    except Exception:
        state["failed"] = True
        log.exception("the models could not be loaded; /ping stays 503")
        if app[SETTINGS]["exit_on_load_failure"]:
            os._exit(3)  # a container that cannot serve must not look alive


def create_app(
    config: EngineConfig | None = None,
    engine: OcrEngine | None = None,
    workers: int | None = None,
    queue: int | None = None,
    timeout_s: float | None = None,
    exit_on_load_failure: bool = False,
) -> web.Application:
    config = config or EngineConfig.from_env()
    workers = workers or int(os.environ.get("OCR_WORKERS", "2"))
    queue = queue if queue is not None else int(os.environ.get("OCR_MAX_QUEUE", "16"))
    timeout_s = timeout_s or float(os.environ.get("OCR_REQUEST_TIMEOUT_S", DEFAULT_TIMEOUT_S))
    # read_body enforces the exact image limit as it reads.
    app = web.Application(middlewares=[errors_as_json], client_max_size=MAX_IMAGE_BYTES + 65536)
    install_json_protocol_errors(app)
    app[STATE] = {"engine": engine}
    app[ADMISSION] = Admission(workers, queue)
    # A document range (task=document) renders its pages while they are read: as many renderers
    # as requests read at once (documents/render.py), unless OCR_RENDER_SLOTS says otherwise.
    if not os.environ.get(RENDER_SLOTS_ENV):
        set_render_slots(workers)
    app[SETTINGS] = {
        "workers": workers,
        "timeout_s": timeout_s,
        "document_timeout_s": float(os.environ.get("OCR_DOCUMENT_TIMEOUT_S", DOCUMENT_TIMEOUT_S)),
        "exit_on_load_failure": exit_on_load_failure,
    }
    app[EXECUTOR] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocr")
    app.router.add_get("/ping", ping)
    app.router.add_post("/invocations", invocations)

    async def start_loading(app: web.Application):
        if app[STATE]["engine"] is None:
            asyncio.get_running_loop().run_in_executor(None, _load_engine, app, config)

    async def stop_executor(app: web.Application):
        app[EXECUTOR].shutdown(wait=True, cancel_futures=True)
        close = getattr(app[STATE].get("engine"), "close", None)
        if close is not None:
            close()  # runs what the engine's batcher still holds, then stops it

    app.on_startup.append(start_loading)
    app.on_cleanup.append(stop_executor)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference serve", description="Start the inference server.")
    parser.add_argument("--host", default=os.environ.get("OCR_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = EngineConfig.from_env()
    log.info("starting on %s:%d, provider %s", args.host, args.port, config.provider)
    app = create_app(config, exit_on_load_failure=True)
    # SIGTERM (SageMaker's stop) and SIGINT: stop accepting, finish in-flight requests, exit.
    web.run_app(app, host=args.host, port=args.port, shutdown_timeout=30, access_log=None, print=None)
    return 0
