"""The Bedrock routes through the clients people use: the anthropic SDK's Bedrock client with the
``la_sk_`` key as its API key, and botocore's ``bedrock-runtime`` client with the key as a Bedrock
bearer token (``AWS_BEARER_TOKEN_BEDROCK``), whose model ids arrive URL-encoded and whose errors
and event streams botocore parses itself. botocore sends a bearer token over HTTPS only, so the
router is also served with TLS on loopback here (as a reverse proxy would put it), with a
certificate made for the test. botocore blocks, so it runs in a thread."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anthropic
import botocore.session
import orjson
import pytest
from aiohttp import web
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import OAUTH_TOKEN, RunningRouter
from tests.fakes.upstream import TEXT_PIECES, USAGE, FakeUpstream, sse_events
from tests.formats.test_cloud import BEDROCK_ID, BODY

UPSTREAM_MODEL = "claude-sonnet-4-5-20250929"


def sent(fake: FakeUpstream) -> dict[str, Any]:
    request = fake.requests[-1]
    assert "la_sk_" not in str(request.headers) + request.body.decode()
    assert request.path == "/v1/messages"
    document: dict[str, Any] = orjson.loads(request.body)
    return document


# --- the anthropic SDK's Bedrock client ----------------------------------------------------------


@pytest.fixture
async def bedrock(router: RunningRouter) -> AsyncIterator[anthropic.AsyncAnthropicBedrock]:
    key = await router.issue_key()
    # The key as the API key: sent as Authorization: Bearer, and nothing is signed.
    async with anthropic.AsyncAnthropicBedrock(
        api_key=key, aws_region="us-east-1", base_url=router.url, max_retries=0
    ) as client:
        yield client


async def test_anthropic_bedrock_create(
    bedrock: anthropic.AsyncAnthropicBedrock, fake_upstream: FakeUpstream
) -> None:
    message = await bedrock.messages.create(
        model=BEDROCK_ID, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].text == "".join(TEXT_PIECES)  # type: ignore[union-attr]
    upstream = sent(fake_upstream)
    assert upstream["model"] == UPSTREAM_MODEL
    assert "anthropic_version" not in upstream


async def test_anthropic_bedrock_stream(
    bedrock: anthropic.AsyncAnthropicBedrock, fake_upstream: FakeUpstream
) -> None:
    async with bedrock.messages.stream(
        model=BEDROCK_ID, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "".join(TEXT_PIECES)
    assert final.usage.output_tokens == USAGE["output_tokens"]
    assert sent(fake_upstream)["stream"] is True


# --- botocore's bedrock-runtime client -----------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "router.pem", directory / "router.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
async def runtime(
    router: RunningRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Callable[[str], Any]]:
    """A factory: a bedrock-runtime client whose Bedrock API key is the given token."""
    cert_path, key_path = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    tls = web.TCPSite(router.runner, "127.0.0.1", 0, ssl_context=context)
    await tls.start()
    port = router.runner.addresses[-1][1]
    # The AWS config files point nowhere, and the instance metadata service is never asked.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    clients: list[Any] = []

    def factory(token: str) -> Any:
        # Bedrock API-key mode: botocore sends this token as a bearer instead of signing.
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", token)
        client = botocore.session.Session().create_client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=f"https://127.0.0.1:{port}",
            verify=str(cert_path),
            aws_access_key_id="unused",
            aws_secret_access_key="unused",
            config=Config(retries={"total_max_attempts": 1}),
        )
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()
    await tls.stop()


Runtime = Callable[[str], Any]


def invoke(client: Any, stream: bool) -> Any:
    call = client.invoke_model_with_response_stream if stream else client.invoke_model
    return call(modelId=BEDROCK_ID, body=orjson.dumps(BODY), contentType="application/json")


def chunks(response: Any) -> list[Any]:
    try:
        return [orjson.loads(event["chunk"]["bytes"]) for event in response["body"]]
    finally:
        response["body"].close()


def failure(client: Any, stream: bool) -> tuple[str, Any]:
    """What botocore raised for a call: the exception's class name and its parsed error. (Only
    these leave the thread: a kept traceback would hold the connection open past the test.)"""
    try:
        response = invoke(client, stream)
        if stream:
            chunks(response)
    except ClientError as exc:  # EventStreamError is one too
        return type(exc).__name__, exc.response
    raise AssertionError("the call succeeded")


async def test_botocore_invoke_model(
    runtime: Runtime, router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    client = runtime(await router.issue_key())
    response = await asyncio.to_thread(invoke, client, False)
    answer = orjson.loads(await asyncio.to_thread(response["body"].read))
    assert answer["content"][0]["text"] == "".join(TEXT_PIECES)
    assert response["contentType"].startswith("application/json")
    assert sent(fake_upstream)["model"] == UPSTREAM_MODEL  # the id came as ...-v1%3A0


async def test_botocore_invoke_model_with_response_stream(
    runtime: Runtime, router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    client = runtime(await router.issue_key())
    response = await asyncio.to_thread(invoke, client, True)
    events = await asyncio.to_thread(chunks, response)
    assert events == [orjson.loads(event.split(b"data: ", 1)[1]) for event in sse_events()]
    assert sent(fake_upstream)["stream"] is True


@pytest.mark.parametrize(
    ("scenario", "stream", "raised", "code", "message"),
    [
        # The stream breaks after it began: an exception message ends it.
        ("drop", True, "EventStreamError", "internalServerException", "lost mid-stream"),
        # The upstream refuses: a Bedrock error, which botocore raises as its own exception.
        ("error-429", False, "ThrottlingException", "ThrottlingException", "exceeded"),
    ],
)
async def test_botocore_raises_bedrocks_exceptions(
    runtime: Runtime,
    router: RunningRouter,
    fake_upstream: FakeUpstream,
    scenario: str,
    stream: bool,
    raised: str,
    code: str,
    message: str,
) -> None:
    fake_upstream.scenarios[OAUTH_TOKEN] = scenario
    client = runtime(await router.issue_key())
    name, error = await asyncio.to_thread(failure, client, stream)
    assert (name, error["Error"]["Code"]) == (raised, code)
    assert message in error["Error"]["Message"]


async def test_botocore_with_a_forged_token_is_refused(
    runtime: Runtime, fake_upstream: FakeUpstream
) -> None:
    _, error = await asyncio.to_thread(failure, runtime("la_sk_forged"), False)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert fake_upstream.requests == []
