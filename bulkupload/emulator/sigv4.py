"""AWS Signature V4, the signing side: signed browser-POST forms (what Create Upload hands out)
and signed REST headers (to drive SeaweedFS). Pure functions; time is passed in (Unix seconds).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

ALGORITHM = "AWS4-HMAC-SHA256"


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
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    signed, signature = _signature(
        method, parts.path, query, headers, payload_hash, secret_key, stamp, scope
    )
    return {
        "x-amz-content-sha256": payload_hash,
        "x-amz-date": stamp,
        "Authorization": (
            f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed}, "
            f"Signature={signature}"
        ),
    }


def presign_url(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    access_key: str,
    secret_key: str,
    region: str,
    now: float,
    expires_in: int,
) -> str:
    """A SigV4 query-string presigned URL (S3's presigned PUT): the request must carry exactly
    `headers` (signed with the host; the payload is not signed) before `expires_in` seconds."""
    parts = urllib.parse.urlsplit(url)
    stamp = amz_date(now)
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    lowered["host"] = parts.netloc
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query += [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{access_key}/{scope}"),
        ("X-Amz-Date", stamp),
        ("X-Amz-Expires", str(expires_in)),
        ("X-Amz-SignedHeaders", ";".join(sorted(lowered))),
    ]
    _, signature = _signature(
        method, parts.path, query, lowered, "UNSIGNED-PAYLOAD", secret_key, stamp, scope
    )
    query.append(("X-Amz-Signature", signature))
    return urllib.parse.urlunsplit(parts._replace(query=_canonical_query(query)))


def _canonical_query(query: list[tuple[str, str]]) -> str:
    return "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(query)
    )


def _signature(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
    secret_key: str,
    stamp: str,
    scope: str,
) -> tuple[str, str]:
    """(signed header names, hex signature) of a canonical request under `scope`."""
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            method,
            urllib.parse.quote(path or "/", safe="/-_.~"),
            _canonical_query(query),
            "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
            signed,
            payload_hash,
        ]
    )
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = signing_key(secret_key, stamp[:8], scope.split("/")[1])
    return signed, hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
