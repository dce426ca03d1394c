"""The Lambda <-> container protocol: what the Lambda sends is what the container reads, within
SageMaker's CustomAttributes rules, and the container's admission keeps single images ahead of
other callers' document pages."""

import asyncio

import pytest

from inference.serving.admission import Admission
from ocr_contract import ApiError
from ocr_contract.protocol import CUSTOM_ATTRIBUTES_MAX_CHARS, InvokeOptions


@pytest.mark.parametrize(
    "options",
    [
        InvokeOptions(request_id="3f0e-1", timeout_ms=25_500),
        InvokeOptions(request_id="r", timeout_ms=1000, detail=True, lane="bulk"),
        InvokeOptions(request_id="r", task="plates", country="kr"),
        InvokeOptions(request_id="r", detail=True, lang="ko"),
        InvokeOptions(request_id="r", tables=True, lang="ko", lane="bulk"),
    ],
)
def test_options_survive_the_header(options):
    header = options.header()
    # SageMaker: at most 1024 visible US-ASCII characters.
    assert len(header) <= CUSTOM_ATTRIBUTES_MAX_CHARS and header.isascii() and header.isprintable()
    assert InvokeOptions.parse(header) == options


def test_a_request_id_cannot_smuggle_options():
    header = InvokeOptions(request_id="x,task=plates,lane=bulk").header()
    parsed = InvokeOptions.parse(header)
    assert parsed.task == "lines" and parsed.lane == "interactive"


@pytest.mark.parametrize("header", ["task=tables", "lane=vip", "country=us", "timeoutMs=soon", "lang=th", "lang=KO"])
def test_a_wrong_value_is_the_callers_error(header):
    with pytest.raises(ApiError) as caught:
        InvokeOptions.parse(header)
    assert caught.value.status == 400


def test_lang_is_asked_for_only_when_sent():
    # A caller that does not ask for Korean sends no `lang`, and gets PP-OCR's reading as ever.
    assert "lang" not in InvokeOptions(request_id="r").header()
    assert InvokeOptions.parse("v=1,requestId=r").lang is None
    assert InvokeOptions.parse("v=1,lang=ko").lang == "ko"


def test_a_request_id_cannot_smuggle_a_language():
    assert InvokeOptions.parse(InvokeOptions(request_id="x,lang=ko").header()).lang is None


def test_unknown_keys_from_a_newer_caller_are_ignored():
    assert InvokeOptions.parse("v=2,requestId=r,future=1").request_id == "r"


def test_bulk_work_cannot_take_the_places_kept_for_single_images():
    admission = Admission(workers=2, queue=4)  # 6 places; bulk may hold 2 + 4 // 2 = 4
    for _ in range(4):
        admission.admit("bulk")
    with pytest.raises(ApiError) as caught:
        admission.admit("bulk")
    assert caught.value.code.value == "ServerBusy"
    admission.admit("interactive")
    admission.admit("interactive")
    with pytest.raises(ApiError):
        admission.admit("interactive")  # the server is full


def test_a_freed_worker_goes_to_the_waiting_single_image_first():
    async def scenario():
        admission = Admission(workers=1, queue=8)
        order = []
        release_first = asyncio.Event()

        async def run(name, lane, hold=None):
            async with admission.worker(lane):
                order.append(name)
                if hold is not None:
                    await hold.wait()

        first = asyncio.create_task(run("page 1", "bulk", release_first))
        await asyncio.sleep(0)  # it takes the one worker
        waiting = [asyncio.create_task(run(f"page {n}", "bulk")) for n in (2, 3)]
        waiting.append(asyncio.create_task(run("image", "interactive")))
        await asyncio.sleep(0)  # all three queue behind page 1
        release_first.set()
        await asyncio.gather(first, *waiting)
        return order

    assert asyncio.run(scenario()) == ["page 1", "image", "page 2", "page 3"]


def test_a_waiter_that_gives_up_does_not_keep_a_worker():
    async def scenario():
        admission = Admission(workers=1, queue=8)
        hold = asyncio.Event()

        async def busy():
            async with admission.worker("bulk"):
                await hold.wait()

        task = asyncio.create_task(busy())
        await asyncio.sleep(0)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(admission.worker("interactive").__aenter__(), 0.01)
        hold.set()
        await task
        async with admission.worker("interactive"):  # the worker is free, not lost to the waiter
            return admission.running

    assert asyncio.run(scenario()) == 1
