"""Reading upstream answers for account health: quota headers and verdicts (REFERENCE §6)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from link_assistant_router.accounts.health import (
    DEFAULT_COOLDOWN_S,
    MAX_COOLDOWN_S,
    REASON_MAX_CHARS,
    QuotaSnapshot,
    QuotaWindow,
    Verdict,
    VerdictKind,
    classify,
    classify_stream_error,
    parse_quota,
)

NOW = 1_760_000_000.0
HOUR = 3600
DAY = 86400
U = "anthropic-ratelimit-unified-"
REQUEST_ID_MARKER = "req_011CHeaderMarker"

Headers = dict[str, str]


def unified(**values: str | float) -> Headers:
    """``anthropic-ratelimit-unified-*`` headers: ``five_h_status="allowed"`` -> ``5h-status``."""
    headers: Headers = {"request-id": REQUEST_ID_MARKER}
    for name, value in values.items():
        name = name.replace("five_h", "5h").replace("seven_d", "7d").replace("_", "-")
        name = name.replace("7d-oi", "7d_oi")
        headers[U + name] = str(value)
    return headers


def error_body(error_type: str, message: str) -> bytes:
    return orjson.dumps(
        {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_1"}
    )


# --- realistic header sets ---------------------------------------------------------------------

ALLOWED = unified(
    status="allowed",
    reset=int(NOW + 2 * HOUR),
    representative_claim="five_hour",
    five_h_status="allowed",
    five_h_reset=int(NOW + 2 * HOUR),
    five_h_utilization="0.42",
    seven_d_status="allowed",
    seven_d_reset=int(NOW + 5 * DAY),
    seven_d_utilization="0.1",
    overage_status="rejected",
    overage_disabled_reason="org_level_disabled",
    fallback_percentage="0.5",
)
ALLOWED_WARNING = unified(
    status="allowed_warning",
    reset=int(NOW + HOUR),
    representative_claim="five_hour",
    five_h_status="allowed_warning",
    five_h_reset=int(NOW + HOUR),
    five_h_utilization="0.91",
    seven_d_status="allowed",
    seven_d_reset=int(NOW + 5 * DAY),
    seven_d_utilization="0.3",
)
FIVE_H_REJECTED = {
    **unified(
        status="rejected",
        reset=int(NOW + 1800),
        representative_claim="five_hour",
        five_h_status="rejected",
        five_h_reset=int(NOW + 1800),
        five_h_utilization="1.0",
        seven_d_status="allowed",
        seven_d_reset=int(NOW + 5 * DAY),
        seven_d_utilization="0.5",
    ),
    "retry-after": "1800",
}
SEVEN_D_REJECTED = {
    **unified(
        status="rejected",
        reset=int(NOW + 3 * DAY),
        representative_claim="seven_day",
        five_h_status="allowed",
        five_h_reset=int(NOW + HOUR),
        five_h_utilization="0.2",
        seven_d_status="rejected",
        seven_d_reset=int(NOW + 3 * DAY),
        seven_d_utilization="1.02",
    ),
    "retry-after": str(3 * DAY),
}
OVERALL_REJECTED_ONLY = {**unified(status="rejected", reset=int(NOW + 900)), "retry-after": "900"}
# Long context needs extra usage, which this organization may not buy: the windows are fine.
REQUEST_SCOPED = unified(
    status="allowed",
    reset=int(NOW + HOUR),
    five_h_status="allowed",
    five_h_reset=int(NOW + HOUR),
    five_h_utilization="0.2",
    seven_d_status="allowed",
    seven_d_reset=int(NOW + 5 * DAY),
    seven_d_utilization="0.1",
    overage_status="rejected",
)
GARBAGE = {
    U + "status": "  ",
    U + "reset": "tomorrow",
    U + "representative-claim": "five hour; drop table",
    U + "overage-status": "REJECTED!!",
    U + "5h-status": "🙂",
    U + "5h-reset": "NaN",
    U + "5h-utilization": "-0.5",
    U + "7d-reset": "inf",
    U + "7d-utilization": "lots",
    U + "-status": "rejected",
    U + "Bad Window!-status": "rejected",
    "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT",
}

RATE_LIMITED = error_body(
    "rate_limit_error", "This request would exceed your account's rate limit. Please try again."
)
LONG_CONTEXT = error_body("rate_limit_error", "Extra usage is required for long context requests.")
ORG_NOT_ALLOWED = "OAuth authentication is currently not allowed for this organization."


# --- parse_quota ---------------------------------------------------------------------------------


def test_parse_quota_reads_an_allowed_response() -> None:
    assert parse_quota(ALLOWED) == QuotaSnapshot(
        status="allowed",
        reset=NOW + 2 * HOUR,
        representative_claim="five_hour",
        overage_status="rejected",
        retry_after=None,
        windows={
            "5h": QuotaWindow("allowed", NOW + 2 * HOUR, 0.42),
            "7d": QuotaWindow("allowed", NOW + 5 * DAY, 0.1),
        },
    )


def test_parse_quota_reads_allowed_warning() -> None:
    quota = parse_quota(ALLOWED_WARNING)
    assert quota is not None
    assert quota.status == "allowed_warning"
    assert quota.windows["5h"] == QuotaWindow("allowed_warning", NOW + HOUR, 0.91)
    assert quota.rejected_windows == ()


def test_parse_quota_reads_a_rejected_window_and_retry_after() -> None:
    quota = parse_quota(FIVE_H_REJECTED)
    assert quota is not None
    assert quota.rejected_windows == ("5h",)
    assert quota.windows["5h"] == QuotaWindow("rejected", NOW + 1800, 1.0)
    assert quota.retry_after == 1800.0


def test_parse_quota_reads_any_window_triple() -> None:
    headers = unified(
        seven_d_oi_status="allowed", seven_d_oi_reset=int(NOW + DAY), seven_d_oi_utilization="0.7"
    )
    headers[U + "1h_sonnet-utilization"] = "0.05"
    quota = parse_quota(headers)
    assert quota is not None
    assert quota.windows == {
        "7d_oi": QuotaWindow("allowed", NOW + DAY, 0.7),
        "1h_sonnet": QuotaWindow(utilization=0.05),
    }


def test_parse_quota_does_not_count_overage_as_a_window() -> None:
    headers = unified(overage_status="rejected", overage_reset=int(NOW + DAY))
    quota = parse_quota(headers)
    assert quota is not None
    assert quota.overage_status == "rejected"
    assert quota.windows == {}


def test_parse_quota_matches_header_names_case_insensitively() -> None:
    headers = {"Anthropic-RateLimit-Unified-5H-Utilization": "0.25", "Retry-After": "3"}
    assert parse_quota(headers) == QuotaSnapshot(
        retry_after=3.0, windows={"5h": QuotaWindow(utilization=0.25)}
    )


def test_parse_quota_reads_a_multidict_proxy() -> None:
    quota = parse_quota(CIMultiDictProxy(CIMultiDict(ALLOWED)))
    assert quota == parse_quota(ALLOWED)


def test_parse_quota_is_none_without_quota_headers() -> None:
    assert parse_quota({"content-type": "application/json", "request-id": "req_1"}) is None
    assert parse_quota({}) is None


def test_parse_quota_reads_retry_after_alone() -> None:
    assert parse_quota({"retry-after": "17"}) == QuotaSnapshot(retry_after=17.0)


def test_parse_quota_ignores_garbage_values() -> None:
    assert parse_quota(GARBAGE) is None


def test_parse_quota_keeps_good_values_beside_garbage() -> None:
    quota = parse_quota({**GARBAGE, U + "5h-utilization": "0.3", U + "status": "Allowed "})
    assert quota == QuotaSnapshot(status="allowed", windows={"5h": QuotaWindow(utilization=0.3)})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (str(int(NOW)), NOW),
        (f"{NOW:.3f}", NOW),
        (str(int(NOW * 1000)), NOW),  # milliseconds
        ("2025-10-09T08:53:20Z", NOW),
        ("2025-10-09T08:53:20", None),  # no time zone: unknowable
        ("0", None),
        ("-5", None),
        ("1e400", None),
        ("soon", None),
    ],
)
def test_parse_quota_reads_resets_as_epoch_seconds(value: str, expected: float | None) -> None:
    quota = parse_quota({U + "5h-reset": value, U + "5h-utilization": "0.5"})
    assert quota is not None
    assert quota.windows["5h"].reset == expected


def test_quota_snapshot_round_trips_through_json() -> None:
    for headers in (ALLOWED, FIVE_H_REJECTED, {"retry-after": "5"}):
        quota = parse_quota(headers)
        assert quota is not None
        text = orjson.dumps(quota.to_json()).decode()
        assert QuotaSnapshot.from_json(text) == quota
        assert QuotaSnapshot.from_json(text.encode()) == quota
        assert QuotaSnapshot.from_json(quota.to_json()) == quota


@pytest.mark.parametrize("stored", ["", "not json", "[1, 2]", "null", b"\xff"])
def test_quota_snapshot_from_json_is_none_for_non_documents(stored: str | bytes) -> None:
    assert QuotaSnapshot.from_json(stored) is None


def test_quota_snapshot_from_json_drops_fields_of_the_wrong_type() -> None:
    stored: dict[str, Any] = {
        "status": 5,
        "reset": "soon",
        "retry_after": True,
        "overage_status": "allowed",
        "windows": {"5h": {"status": "allowed", "utilization": "high"}, "7d": [1], "x": None},
    }
    assert QuotaSnapshot.from_json(stored) == QuotaSnapshot(
        overage_status="allowed", windows={"5h": QuotaWindow(status="allowed")}
    )


# --- classify: the table -----------------------------------------------------------------------

CASES: list[tuple[str, int, Headers, bytes | None, VerdictKind, float | None]] = [
    ("200 allowed", 200, ALLOWED, None, VerdictKind.OK, None),
    ("200 allowed_warning", 200, ALLOWED_WARNING, None, VerdictKind.OK, None),
    ("304", 304, {}, None, VerdictKind.OK, None),
    ("5h rejected", 429, FIVE_H_REJECTED, RATE_LIMITED, VerdictKind.WINDOW_REJECTED, NOW + 1800),
    (
        "7d rejected",
        429,
        SEVEN_D_REJECTED,
        RATE_LIMITED,
        VerdictKind.WINDOW_REJECTED,
        NOW + 3 * DAY,
    ),
    (
        "overall rejected, no window details",
        429,
        OVERALL_REJECTED_ONLY,
        RATE_LIMITED,
        VerdictKind.WINDOW_REJECTED,
        NOW + 900,
    ),
    ("request-scoped", 429, REQUEST_SCOPED, LONG_CONTEXT, VerdictKind.REQUEST_SCOPED_429, None),
    ("bare 429", 429, {}, RATE_LIMITED, VerdictKind.REQUEST_SCOPED_429, None),
    (
        "529",
        529,
        {},
        error_body("overloaded_error", "Overloaded"),
        VerdictKind.OVERLOADED,
        None,
    ),
    ("529 without a body", 529, {}, None, VerdictKind.OVERLOADED, None),
    (
        "503 overloaded_error",
        503,
        {},
        error_body("overloaded_error", "Overloaded"),
        VerdictKind.OVERLOADED,
        None,
    ),
    (
        "401 expired",
        401,
        {},
        error_body("authentication_error", "OAuth token has expired."),
        VerdictKind.TOKEN_EXPIRED,
        None,
    ),
    (
        "401 EXPIRED",
        401,
        {},
        error_body("authentication_error", "The access token EXPIRED"),
        VerdictKind.TOKEN_EXPIRED,
        None,
    ),
    ("401 unreadable", 401, {}, b"<html>401</html>", VerdictKind.TOKEN_EXPIRED, None),
    (
        "401 org not allowed",
        401,
        {},
        error_body("authentication_error", ORG_NOT_ALLOWED),
        VerdictKind.NEEDS_LOGIN,
        None,
    ),
    (
        "403 org not allowed",
        403,
        {},
        error_body("permission_error", ORG_NOT_ALLOWED),
        VerdictKind.NEEDS_LOGIN,
        None,
    ),
    (
        "403 org disabled",
        403,
        {},
        error_body("permission_error", "This organization has been disabled."),
        VerdictKind.NEEDS_LOGIN,
        None,
    ),
    (
        "403 revoked",
        403,
        {},
        error_body("permission_error", "OAuth token has been revoked."),
        VerdictKind.NEEDS_LOGIN,
        None,
    ),
    (
        "401 invalid key",
        401,
        {},
        error_body("authentication_error", "invalid x-api-key"),
        VerdictKind.NEEDS_LOGIN,
        None,
    ),
    (
        "401 invalid bearer",
        401,
        {},
        error_body("authentication_error", "Invalid bearer token"),
        VerdictKind.NEEDS_LOGIN,
        None,
    ),
    (
        "403 other permission",
        403,
        {},
        error_body("permission_error", "Your API key does not have permission to use this."),
        VerdictKind.OK,
        None,
    ),
    (
        "400 Claude Code only",
        400,
        {},
        error_body(
            "invalid_request_error",
            "This credential is only authorized for use with Claude Code and cannot be used "
            "for other API requests.",
        ),
        VerdictKind.CLIENT_NOT_ALLOWED,
        None,
    ),
    (
        "400",
        400,
        ALLOWED,
        error_body("invalid_request_error", "messages: field required"),
        VerdictKind.OK,
        None,
    ),
    (
        "404",
        404,
        {},
        error_body("not_found_error", "model: claude-nope"),
        VerdictKind.OK,
        None,
    ),
    (
        "413",
        413,
        {},
        error_body("request_too_large", "Request exceeds the maximum size"),
        VerdictKind.OK,
        None,
    ),
    (
        "500",
        500,
        {},
        error_body("api_error", "Internal server error"),
        VerdictKind.SERVER_ERROR,
        None,
    ),
    ("502 html", 502, {}, b"<html>Bad Gateway</html>", VerdictKind.SERVER_ERROR, None),
    (
        "504",
        504,
        {},
        error_body("timeout_error", "Request timed out"),
        VerdictKind.SERVER_ERROR,
        None,
    ),
    ("429 garbage headers", 429, GARBAGE, b"\x00\xff", VerdictKind.REQUEST_SCOPED_429, None),
]


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "cooldown_until"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_classify(
    status: int,
    headers: Headers,
    body: bytes | None,
    kind: VerdictKind,
    cooldown_until: float | None,
) -> None:
    verdict = classify(status, headers, body, NOW)
    assert (verdict.kind, verdict.cooldown_until) == (kind, cooldown_until)


# --- classify: the cooldown ----------------------------------------------------------------------


def test_both_windows_rejected_cool_down_until_the_later_reset() -> None:
    headers = {**FIVE_H_REJECTED, U + "7d-status": "rejected", U + "7d-reset": str(NOW + DAY)}
    verdict = classify(429, headers, RATE_LIMITED, NOW)
    assert verdict.kind is VerdictKind.WINDOW_REJECTED
    assert verdict.cooldown_until == NOW + DAY


def test_a_rejected_model_window_cools_down_too() -> None:
    headers = unified(
        status="allowed",
        five_h_status="allowed",
        seven_d_oi_status="rejected",
        seven_d_oi_reset=int(NOW + 2 * DAY),
    )
    verdict = classify(429, headers, RATE_LIMITED, NOW)
    assert verdict.kind is VerdictKind.WINDOW_REJECTED
    assert verdict.cooldown_until == NOW + 2 * DAY


@pytest.mark.parametrize(
    ("headers", "until"),
    [
        ({U + "5h-status": "rejected", U + "reset": str(NOW + 600)}, NOW + 600),
        ({U + "5h-status": "rejected", "retry-after": "120"}, NOW + 120),
        ({U + "5h-status": "rejected"}, NOW + DEFAULT_COOLDOWN_S),
        ({U + "status": "rejected", "retry-after": "45"}, NOW + 45),
        ({U + "status": "rejected"}, NOW + DEFAULT_COOLDOWN_S),
        ({U + "status": "rejected", "retry-after": "0"}, NOW + DEFAULT_COOLDOWN_S),
    ],
    ids=["overall reset", "retry-after", "default", "overall retry-after", "overall default", "0"],
)
def test_a_rejected_window_without_its_reset_falls_back(headers: Headers, until: float) -> None:
    verdict = classify(429, headers, RATE_LIMITED, NOW)
    assert (verdict.kind, verdict.cooldown_until) == (VerdictKind.WINDOW_REJECTED, until)


def test_a_reset_already_past_falls_back_to_retry_after() -> None:
    headers = {U + "5h-status": "rejected", U + "5h-reset": str(NOW - 10), "retry-after": "30"}
    assert classify(429, headers, RATE_LIMITED, NOW).cooldown_until == NOW + 30


def test_a_far_reset_is_capped() -> None:
    headers = {U + "5h-status": "rejected", U + "5h-reset": str(NOW + 400 * DAY)}
    assert classify(429, headers, RATE_LIMITED, NOW).cooldown_until == NOW + MAX_COOLDOWN_S


def test_overall_rejected_with_every_window_allowed_is_request_scoped() -> None:
    headers = {**REQUEST_SCOPED, U + "status": "rejected"}
    assert classify(429, headers, LONG_CONTEXT, NOW).kind is VerdictKind.REQUEST_SCOPED_429


def test_a_rejected_overage_is_request_scoped() -> None:
    verdict = classify(429, REQUEST_SCOPED, LONG_CONTEXT, NOW)
    assert verdict == Verdict(
        VerdictKind.REQUEST_SCOPED_429,
        "rate_limit_error: Extra usage is required for long context requests.",
    )


def test_a_spent_api_key_limit_cools_down_for_retry_after() -> None:
    headers = {
        "anthropic-ratelimit-requests-remaining": "12",
        "anthropic-ratelimit-output-tokens-remaining": "0",
        "retry-after": "7",
    }
    verdict = classify(429, headers, RATE_LIMITED, NOW)
    assert (verdict.kind, verdict.cooldown_until) == (VerdictKind.WINDOW_REJECTED, NOW + 7)


def test_an_api_key_429_with_limits_left_is_request_scoped() -> None:
    headers = {"anthropic-ratelimit-requests-remaining": "12", "retry-after": "7"}
    assert classify(429, headers, RATE_LIMITED, NOW).kind is VerdictKind.REQUEST_SCOPED_429


def test_classify_reads_a_multidict_proxy() -> None:
    headers = CIMultiDictProxy(CIMultiDict(FIVE_H_REJECTED))
    assert classify(429, headers, RATE_LIMITED, NOW).cooldown_until == NOW + 1800


def test_a_success_body_is_not_read() -> None:
    body = error_body("overloaded_error", "Overloaded")
    assert classify(200, ALLOWED, body, NOW) == Verdict(VerdictKind.OK)


# --- classify: the reason ------------------------------------------------------------------------


def test_reason_is_the_upstream_type_and_message() -> None:
    verdict = classify(500, {}, error_body("api_error", "Internal server error"), NOW)
    assert verdict.reason == "api_error: Internal server error"


def test_reason_of_a_window_rejection_names_the_window() -> None:
    verdict = classify(429, FIVE_H_REJECTED, error_body("rate_limit_error", "Rate limited"), NOW)
    assert verdict.reason == "5h limit reached: rate_limit_error: Rate limited"


def test_reason_of_an_unreadable_body_is_the_status() -> None:
    assert classify(502, {}, b"<html>Bad Gateway</html>", NOW).reason == "HTTP 502"
    assert classify(503, {}, None, NOW).reason == "HTTP 503"


def test_reason_is_truncated() -> None:
    verdict = classify(500, {}, error_body("api_error", "x" * 1000), NOW)
    assert verdict.reason is not None
    assert len(verdict.reason) == REASON_MAX_CHARS
    assert verdict.reason.startswith("api_error: xxx")
    assert verdict.reason.endswith("…")


def test_reason_of_a_window_rejection_is_truncated() -> None:
    verdict = classify(429, FIVE_H_REJECTED, error_body("rate_limit_error", "y" * 1000), NOW)
    assert verdict.reason is not None
    assert len(verdict.reason) == REASON_MAX_CHARS


def test_reason_collapses_whitespace_and_redacts_credentials() -> None:
    message = "bad token\n\tsk-ant-oat01-SECRETSECRET_x-y and la_sk_eyJhbGc.eyJzdWIi.sig"
    verdict = classify(401, {}, error_body("authentication_error", message), NOW)
    assert verdict.reason == (
        "authentication_error: bad token sk-ant-oat01-[redacted] and la_sk_[redacted]"
    )


def test_reason_never_carries_header_values() -> None:
    for status, headers in [(429, FIVE_H_REJECTED), (429, REQUEST_SCOPED), (500, ALLOWED)]:
        verdict = classify(status, headers, b"not json", NOW)
        assert verdict.reason is not None
        assert REQUEST_ID_MARKER not in verdict.reason
        assert str(int(NOW + 1800)) not in verdict.reason


def test_reason_accepts_an_error_given_as_a_string() -> None:
    body = orjson.dumps({"error": "upstream connect error"})
    assert classify(503, {}, body, NOW).reason == "upstream connect error"


def test_reason_ignores_fields_of_the_wrong_type() -> None:
    body = orjson.dumps({"type": "error", "error": {"type": 7, "message": ["x"]}})
    assert classify(500, {}, body, NOW) == Verdict(VerdictKind.SERVER_ERROR, "HTTP 500")


# --- classify_stream_error -----------------------------------------------------------------------

STREAM_CASES: list[tuple[str, bytes, VerdictKind]] = [
    ("overloaded", error_body("overloaded_error", "Overloaded"), VerdictKind.OVERLOADED),
    ("rate limited", RATE_LIMITED, VerdictKind.REQUEST_SCOPED_429),
    ("api error", error_body("api_error", "Internal server error"), VerdictKind.SERVER_ERROR),
    ("timeout", error_body("timeout_error", "Timed out"), VerdictKind.SERVER_ERROR),
    (
        "expired",
        error_body("authentication_error", "OAuth token has expired."),
        VerdictKind.TOKEN_EXPIRED,
    ),
    (
        "org not allowed",
        error_body("permission_error", ORG_NOT_ALLOWED),
        VerdictKind.NEEDS_LOGIN,
    ),
    ("client error", error_body("invalid_request_error", "bad"), VerdictKind.OK),
    ("unknown type", error_body("brand_new_error", "?"), VerdictKind.SERVER_ERROR),
    ("not json", b"data: {oops", VerdictKind.SERVER_ERROR),
    ("empty", b"", VerdictKind.SERVER_ERROR),
]


@pytest.mark.parametrize(
    ("data", "kind"), [case[1:] for case in STREAM_CASES], ids=[case[0] for case in STREAM_CASES]
)
def test_classify_stream_error(data: bytes, kind: VerdictKind) -> None:
    verdict = classify_stream_error(data, NOW)
    assert (verdict.kind, verdict.cooldown_until) == (kind, None)


def test_stream_error_reason_is_the_upstream_type_and_message() -> None:
    verdict = classify_stream_error(error_body("overloaded_error", "Overloaded"), NOW)
    assert verdict.reason == "overloaded_error: Overloaded"


def test_unreadable_stream_error_says_so() -> None:
    assert classify_stream_error(b"garbage", NOW).reason == "unreadable stream error"


def test_verdict_kinds_have_lowercase_values() -> None:
    assert {kind.value for kind in VerdictKind} == {kind.name.lower() for kind in VerdictKind}


def test_parse_quota_reads_repeated_headers_once_and_changed_ones_anew() -> None:
    first = {
        "Anthropic-Ratelimit-Unified-5h-Utilization": "0.25",
        "anthropic-ratelimit-unified-5h-reset": "1900000000",
        "content-type": "application/json",
    }
    again = dict(reversed(list(first.items())))  # same values, another order: read anew
    changed = {**first, "Anthropic-Ratelimit-Unified-5h-Utilization": "0.5"}
    snapshot = parse_quota(first)
    assert snapshot is not None and snapshot.windows["5h"].utilization == 0.25
    assert parse_quota(dict(first)) is snapshot  # the same headers: the snapshot already read
    assert parse_quota(again) == snapshot
    assert parse_quota(changed).windows["5h"].utilization == 0.5  # type: ignore[union-attr]
    assert parse_quota({"content-type": "application/json"}) is None
