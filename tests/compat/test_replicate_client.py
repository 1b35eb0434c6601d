"""The official `replicate` package runs predictions against a real `pixelrun serve` (docs/compatibility.md#replicate-predictions):
only the base URL and the token change."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import time
from collections.abc import Iterator

import pytest
import replicate
import requests
from PIL import Image
from replicate.exceptions import ModelError, ReplicateError
from replicate.webhook import WebhookSigningSecret
from standardwebhooks import Webhook

from callbacks.callback_receiver import Receiver, receiving
from e2e.server import Server

from .conftest import png_bytes

MODEL = "alibaba/qwen-image-edit-2511"
IMAGE = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
FAST = {"prompt": "make it blue", "image_urls": [IMAGE], "image_size": "256x256", "num_inference_steps": 2}
SLOW = {**FAST, "image_size": "512x512", "num_inference_steps": 50, "acceleration": "none"}


@pytest.fixture(scope="module")
def client(server: Server) -> replicate.Client:
    return replicate.Client(api_token=server.key, base_url=server.base_url)


def wait_until(prediction: replicate.prediction.Prediction, statuses: set[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while prediction.status not in statuses:
        assert time.monotonic() < deadline, f"still {prediction.status}"
        time.sleep(0.1)
        prediction.reload()


def test_run_with_the_model_name(client: replicate.Client) -> None:
    outputs = client.run(MODEL, input=FAST)
    assert isinstance(outputs, list) and len(outputs) == 1
    # The client wraps only https:// URLs in FileOutput; this test server speaks plain http.
    assert isinstance(outputs[0], str) and outputs[0].startswith(client._base_url)
    image = Image.open(io.BytesIO(requests.get(outputs[0], timeout=10).content))
    assert image.format == "PNG" and image.size == (256, 256)


def test_create_reload_and_the_same_run(client: replicate.Client, server: Server) -> None:
    prediction = client.models.predictions.create(model=MODEL, input={**FAST, "num_images": 2})
    assert prediction.status == "starting" and prediction.output is None and prediction.model == MODEL
    wait_until(prediction, {"succeeded", "failed", "canceled"})
    assert prediction.status == "succeeded", prediction.error
    assert len(prediction.output) == 2 and all(url.startswith(server.base_url) for url in prediction.output)
    assert prediction.metrics["predict_time"] > 0 and prediction.completed_at and prediction.logs is not None
    run = server.get_run(prediction.id)  # a prediction is a run
    # The same files; each read signs its URLs anew, so their expiry may differ by a second.
    assert run["status_code"] == "succeeded" and [
        o["url"].split("?")[0] for o in run["output"]["outputs"]
    ] == [url.split("?")[0] for url in prediction.output]


def test_cancel_and_list(client: replicate.Client) -> None:
    prediction = client.models.predictions.create(model=MODEL, input=SLOW)
    prediction.cancel()
    prediction.reload()
    assert prediction.status == "canceled" and prediction.output is None
    page = client.predictions.list()
    ids = [p.id for p in page.results]
    assert prediction.id in ids
    assert ids == sorted(ids, reverse=True)  # newest first (ids are UUIDv7)


def test_failed_run_raises_model_error(client: replicate.Client) -> None:
    with pytest.raises(ModelError) as caught:
        client.run(MODEL, input={**FAST, "image_urls": ["data:image/png;base64,bm90IGFuIGltYWdl"]})
    assert caught.value.prediction.status == "failed" and caught.value.prediction.error


def test_prefer_wait_that_expires_returns_without_output(client: replicate.Client, server: Server) -> None:
    started = time.monotonic()
    prediction = client.models.predictions.create(model=MODEL, input=SLOW, wait=1)
    assert 0.9 < time.monotonic() - started < 10
    # The run is not terminal after 1 s: the client gets it as it is then, without output.
    assert prediction.status in ("starting", "processing") and prediction.output is None
    prediction.cancel()


def test_prefer_wait_header_is_applied(server: Server) -> None:
    response = requests.post(
        f"{server.base_url}/v1/models/{MODEL}/predictions",
        json={"input": FAST},
        headers={**server.headers(), "Prefer": "wait=30"},
        timeout=60,
    )
    assert response.status_code == 201 and response.headers["Preference-Applied"] == "wait=30"
    assert response.json()["status"] == "succeeded" and len(response.json()["output"]) == 1


def test_errors_in_replicate_shape(client: replicate.Client, server: Server) -> None:
    with pytest.raises(ReplicateError) as caught:
        client.predictions.get("0190a0a0-0000-7000-8000-000000000000")
    assert caught.value.status == 404 and caught.value.detail
    bad = replicate.Client(api_token="px_wrong", base_url=server.base_url)
    with pytest.raises(ReplicateError) as caught:
        bad.models.predictions.create(model=MODEL, input=FAST)
    assert caught.value.status == 401 and caught.value.title
    with pytest.raises(ReplicateError) as caught:
        client.models.predictions.create(model=MODEL, input={**FAST, "num_images": 9})
    assert caught.value.status == 422 and "num_images" in (caught.value.detail or "")
    with pytest.raises(ReplicateError) as caught:
        client.models.predictions.create(model="nobody/nothing", input=FAST)
    assert caught.value.status == 404


def test_webhook_is_the_prediction_signed_with_standard_webhooks(
    client: replicate.Client, server: Server
) -> None:
    created = requests.post(
        server.base_url + "/v1/callback-secrets",
        json={"label": "replicate"},
        headers=server.headers(),
        timeout=10,
    )
    secret = created.json()["plain_secret"]
    try:
        with receiving() as receiver:
            prediction = client.models.predictions.create(
                model=MODEL, input=FAST, webhook=receiver.url(), webhook_events_filter=["completed"]
            )
            assert receiver.arrived.wait(60), "no webhook"
            wait_until(prediction, {"succeeded"})
        received = receiver.requests[0]
        payload = Webhook(secret).verify(received.body, received.headers)
        assert payload["id"] == prediction.id and payload["status"] == "succeeded"
        assert len(payload["output"]) == 1 and payload["urls"]["get"].endswith(prediction.id)
        assert json.loads(received.body) == payload
    finally:
        requests.delete(
            f"{server.base_url}/v1/callback-secrets/{created.json()['id']}",
            headers=server.headers(),
            timeout=10,
        )


@contextlib.contextmanager
def signing_secret(server: Server) -> Iterator[str]:
    """A callback secret of the test owner for the time of a test (every delivery is signed)."""
    created = requests.post(
        server.base_url + "/v1/callback-secrets",
        json={"label": "replicate"},
        headers=server.headers(),
        timeout=10,
    )
    try:
        yield created.json()["plain_secret"]
    finally:
        requests.delete(
            f"{server.base_url}/v1/callback-secrets/{created.json()['id']}",
            headers=server.headers(),
            timeout=10,
        )


def webhooks_until_completed(
    client: replicate.Client, receiver: Receiver, secret: str, quiet: float = 1.5
) -> list[tuple[float, dict]]:
    """Every webhook the receiver got until the terminal one and `quiet` s after, each
    verified by the replicate package's own Standard Webhooks check: (arrival, body)."""
    deadline = time.monotonic() + 60
    while not any(json.loads(r.body)["status"] == "succeeded" for r in list(receiver.requests)):
        assert time.monotonic() < deadline, "no completed webhook"
        time.sleep(0.05)
    time.sleep(quiet)  # nothing may follow the terminal event
    key = WebhookSigningSecret(key=secret)
    for received in receiver.requests:
        client.webhooks.validate(headers=received.headers, body=received.body.decode(), secret=key)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == len(receiver.requests)
    return [(r.at, json.loads(r.body)) for r in receiver.requests]


def test_webhook_events_start_logs_and_completed_arrive_in_order(
    client: replicate.Client, server: Server
) -> None:
    with signing_secret(server) as secret, receiving() as receiver:
        prediction = client.models.predictions.create(
            model=MODEL,
            input=FAST,
            webhook=receiver.url(),
            webhook_events_filter=["start", "logs", "completed"],
        )
        received = webhooks_until_completed(client, receiver, secret)
    bodies = [body for _, body in received]
    assert [body["status"] for body in bodies] == ["processing", "processing", "succeeded"]
    assert all(body["id"] == prediction.id for body in bodies)
    start, logs, completed = bodies
    assert start["output"] is None and start["started_at"] and start["completed_at"] is None
    assert "inference done" in logs["logs"] and logs["output"] is None and logs["metrics"] == {}
    assert completed["output"] and completed["metrics"]["predict_time"] > 0
    (start_at, _), (logs_at, _), _ = received
    assert logs_at - start_at >= 0.45  # non-terminal events at most every 500 ms


def test_only_completed_when_the_filter_says_so(client: replicate.Client, server: Server) -> None:
    with signing_secret(server) as secret, receiving() as receiver:
        client.models.predictions.create(
            model=MODEL, input=FAST, webhook=receiver.url(), webhook_events_filter=["completed"]
        )
        received = webhooks_until_completed(client, receiver, secret)
    assert [body["status"] for _, body in received] == ["succeeded"]


def test_every_event_without_a_filter(client: replicate.Client, server: Server) -> None:
    with signing_secret(server) as secret, receiving() as receiver:
        client.models.predictions.create(model=MODEL, input=FAST, webhook=receiver.url())
        received = webhooks_until_completed(client, receiver, secret)
    bodies = [body for _, body in received]
    # start, logs, output, then completed (the output event shows the output, still processing).
    assert [body["status"] for body in bodies] == ["processing"] * 3 + ["succeeded"]
    assert bodies[2]["output"] == bodies[3]["output"] and bodies[2]["completed_at"] is None


def test_a_filter_without_completed_sends_no_terminal_webhook(
    client: replicate.Client, server: Server
) -> None:
    with receiving() as receiver:
        prediction = client.models.predictions.create(
            model=MODEL, input=FAST, webhook=receiver.url(), webhook_events_filter=["start"]
        )
        wait_until(prediction, {"succeeded"})
        time.sleep(1.5)
    assert [json.loads(r.body)["status"] for r in receiver.requests] == ["processing"]
    empty = client.models.predictions.create(
        model=MODEL, input=FAST, webhook="http://127.0.0.1:9/hook", webhook_events_filter=[]
    )
    assert server.get_run(empty.id)["callback_url"] is None  # no event: no webhook


def test_the_stream_speaks_replicates_events(client: replicate.Client) -> None:
    prediction = client.models.predictions.create(model=MODEL, input=FAST, stream=True)
    events = list(prediction.stream())
    names = [event.event.value for event in events]
    assert names[-1] == "done" and names.count("output") == 1, names
    assert "logs" in names
    (output,) = [event.data for event in events if event.event.value == "output"]
    prediction.reload()
    assert prediction.status == "succeeded" and prediction.output == [output]


def test_a_failed_prediction_streams_its_error(client: replicate.Client) -> None:
    broken = {**FAST, "image_urls": ["data:image/png;base64,bm90IGFuIGltYWdl"]}
    prediction = client.models.predictions.create(model=MODEL, input=broken)
    with pytest.raises(RuntimeError):
        list(prediction.stream())
    prediction.reload()
    assert prediction.status == "failed"
