"""AWS Signature V4 for browser POST policies: build signed fields, and check a POST like S3 does.

Pure functions over strings and numbers; time is passed in (Unix seconds) so tests can pin it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

ALGORITHM = "AWS4-HMAC-SHA256"
# Form fields S3 never expects a policy condition for.
UNCONDITIONED = frozenset({"policy", "x-amz-signature", "file"})
# Fields that make a POST a signed one; a form with none of them is anonymous.
SIGNING_FIELDS = ("policy", "x-amz-signature", "x-amz-credential", "signature", "awsaccesskeyid")
# S3 takes the policy's expiration only as ISO 8601 UTC, seconds with optional milliseconds.
EXPIRATION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")


class PolicyViolation(Exception):
    """The POST breaks S3's rules; carries the HTTP status and S3 error code to answer with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def signing_key(secret_key: str, date: str, region: str, service: str = "s3") -> bytes:
    """The SigV4 derived key: HMAC chain over date (YYYYMMDD), region, service, "aws4_request"."""
    key = _hmac(("AWS4" + secret_key).encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def sign_policy(b64_policy: str, secret_key: str, date: str, region: str) -> str:
    """Hex signature of a base64 POST policy (the policy itself is the string to sign)."""
    key = signing_key(secret_key, date, region)
    return hmac.new(key, b64_policy.encode(), hashlib.sha256).hexdigest()


def amz_date(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")


def iso_expiration(when: float) -> str:
    stamp = datetime.fromtimestamp(when, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def content_disposition(filename: str, *, attachment: bool = True) -> str:
    """`attachment; filename="..."`, plus RFC 5987 `filename*` when the name is not plain ASCII."""
    kind = "attachment" if attachment else "inline"
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    value = f'{kind}; filename="{fallback}"'
    if fallback != filename:
        value += "; filename*=UTF-8''" + urllib.parse.quote(filename, safe="")
    return value


@dataclass(frozen=True, slots=True)
class PostRequest:
    """What a Create Upload answer needs to sign: where the bytes go and what they must carry."""

    bucket: str
    key: str
    content_type: str
    content_disposition: str
    min_size: int
    max_size: int
    extra_fields: tuple[tuple[str, str], ...] = ()  # e.g. success_action_status, x-amz-meta-*


def presigned_post(
    request: PostRequest,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    now: float,
    expires_in: float,
    session_token: str | None = None,
) -> dict[str, str]:
    """Signed form fields in the order a client must send them: key first, signature last."""
    date = amz_date(now)
    credential = f"{access_key}/{date[:8]}/{region}/s3/aws4_request"
    fields: dict[str, str] = {
        "key": request.key,
        "Content-Type": request.content_type,
        "Content-Disposition": request.content_disposition,
    }
    fields.update(request.extra_fields)
    fields["x-amz-credential"] = credential
    fields["x-amz-algorithm"] = ALGORITHM
    fields["x-amz-date"] = date
    if session_token is not None:
        fields["x-amz-security-token"] = session_token
    conditions: list[object] = [{"bucket": request.bucket}]
    for name, value in fields.items():
        if name in ("Content-Type", "Content-Disposition", "key"):
            conditions.append(["eq", f"${name}", value])
        else:
            conditions.append({name: value})
    conditions.append(["content-length-range", request.min_size, request.max_size])
    policy = {"expiration": iso_expiration(now + expires_in), "conditions": conditions}
    b64_policy = base64.b64encode(json.dumps(policy).encode()).decode()
    fields["policy"] = b64_policy
    fields["x-amz-signature"] = sign_policy(b64_policy, secret_key, date[:8], region)
    return fields


@dataclass(frozen=True, slots=True)
class CheckedPolicy:
    """A POST policy that passed signature, expiry and field checks; size is checked later."""

    min_size: int
    max_size: int
    access_key: str


def check_post(
    fields: Mapping[str, str],
    *,
    bucket: str,
    now: float,
    credentials: Mapping[str, tuple[str, str | None]],
) -> CheckedPolicy:
    """Validate form fields (names lower-cased, `file` excluded) as S3 does before reading bytes.

    Raises PolicyViolation with S3's status and code. The file size is checked by the caller
    against the returned content-length-range, once the bytes have been counted.
    """
    if "key" not in fields:
        raise PolicyViolation(
            400, "InvalidArgument", "Bucket POST must contain a field named 'key'."
        )
    if not any(name in fields for name in SIGNING_FIELDS):
        # Unsigned means anonymous, and the buckets are private: S3 refuses, not a form error.
        raise PolicyViolation(403, "AccessDenied", "Access Denied")
    for required in ("policy", "x-amz-signature", "x-amz-credential", "x-amz-algorithm"):
        if required not in fields:
            raise PolicyViolation(
                400, "InvalidArgument", f"Bucket POST must contain a field named '{required}'."
            )
    if fields["x-amz-algorithm"] != ALGORITHM:
        raise PolicyViolation(400, "InvalidArgument", "Unsupported x-amz-algorithm.")
    try:
        access_key, date, region, service, terminal = fields["x-amz-credential"].split("/")
    except ValueError:
        raise PolicyViolation(
            400, "AuthorizationQueryParametersError", "Malformed x-amz-credential."
        ) from None
    if service != "s3" or terminal != "aws4_request":
        raise PolicyViolation(
            400, "AuthorizationQueryParametersError", "Malformed x-amz-credential."
        )
    if access_key not in credentials:
        raise PolicyViolation(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    secret, token = credentials[access_key]
    expected = sign_policy(fields["policy"], secret, date, region)
    if not hmac.compare_digest(expected, fields["x-amz-signature"].lower()):
        raise PolicyViolation(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    if token is not None and fields.get("x-amz-security-token") != token:
        raise PolicyViolation(
            403, "InvalidToken", "The provided token is malformed or otherwise invalid."
        )
    expiration, conditions = _parse_policy(fields["policy"])
    if now >= expiration:
        raise PolicyViolation(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    values = dict(fields)
    values["bucket"] = bucket
    covered = {"bucket"}
    min_size, max_size = 0, 5 * 1024**3
    for condition in conditions:
        if isinstance(condition, dict) and len(condition) == 1:
            ((name, wanted),) = condition.items()
            op, name = "eq", str(name).lower()
        elif isinstance(condition, list) and len(condition) == 3:
            op = str(condition[0]).lower()
            if op == "content-length-range":
                min_size, max_size = _length_range(condition)
                continue
            name, wanted = str(condition[1]).lower().removeprefix("$"), condition[2]
        else:
            raise PolicyViolation(
                400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition {condition!r}."
            )
        covered.add(name)
        actual = values.get(name, "")
        ok = actual == str(wanted) if op == "eq" else actual.startswith(str(wanted))
        if op not in ("eq", "starts-with") or not ok:
            raise PolicyViolation(
                403,
                "AccessDenied",
                "Invalid according to Policy: Policy Condition failed: "
                + json.dumps([op, "$" + name, wanted]),
            )
    extra = sorted(
        name
        for name in fields
        if name not in covered and name not in UNCONDITIONED and not name.startswith("x-ignore-")
    )
    if extra:
        raise PolicyViolation(
            403,
            "AccessDenied",
            "Invalid according to Policy: Extra input fields: " + ", ".join(extra),
        )
    return CheckedPolicy(min_size=min_size, max_size=max_size, access_key=access_key)


def _parse_policy(b64_policy: str) -> tuple[float, list[object]]:
    """The policy's expiration (Unix seconds) and conditions, refused as S3 refuses them."""
    try:
        policy = json.loads(base64.b64decode(b64_policy, validate=True))
    except ValueError:
        raise _invalid_policy("Invalid JSON.") from None
    if not isinstance(policy, dict):
        raise _invalid_policy("Invalid JSON.")
    if "expiration" not in policy:
        raise _invalid_policy("Policy missing expiration.")
    if "conditions" not in policy:
        raise _invalid_policy("Policy missing conditions.")
    raw = policy["expiration"]
    if not isinstance(raw, str) or not EXPIRATION_RE.match(raw):
        raise _invalid_policy(f"Invalid 'expiration' value: '{raw}'")
    try:
        expiration = datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:  # well formed but not a date, e.g. month 13
        raise _invalid_policy(f"Invalid 'expiration' value: '{raw}'") from None
    conditions = policy["conditions"]
    if not isinstance(conditions, list):
        raise _invalid_policy("Invalid 'conditions' value: must be a List.")
    return expiration, conditions


def _length_range(condition: list[object]) -> tuple[int, int]:
    low, high = condition[1], condition[2]
    if not isinstance(low, int | str) or not isinstance(high, int | str):
        raise _invalid_policy(f"Invalid content-length-range {condition!r}.")
    try:
        return int(low), int(high)
    except ValueError:
        raise _invalid_policy(f"Invalid content-length-range {condition!r}.") from None


def _invalid_policy(detail: str) -> PolicyViolation:
    return PolicyViolation(400, "InvalidPolicyDocument", "Invalid Policy: " + detail)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def sign_headers(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    now: float,
    payload: bytes = b"",
) -> dict[str, str]:
    """SigV4 `Authorization` headers for a plain S3 REST call (used to drive SeaweedFS)."""
    parts = urllib.parse.urlsplit(url)
    stamp = amz_date(now)
    payload_hash = hashlib.sha256(payload).hexdigest()
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload_hash, "x-amz-date": stamp}
    query = sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in query
    )
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            method,
            urllib.parse.quote(parts.path or "/", safe="/-_.~"),
            canonical_query,
            "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
            signed,
            payload_hash,
        ]
    )
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(
        signing_key(secret_key, stamp[:8], region), to_sign.encode(), hashlib.sha256
    ).hexdigest()
    return {
        "x-amz-content-sha256": payload_hash,
        "x-amz-date": stamp,
        "Authorization": (
            f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed}, "
            f"Signature={signature}"
        ),
    }
