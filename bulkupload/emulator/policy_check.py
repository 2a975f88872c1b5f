"""A browser POST checked as S3 checks it before reading the file: fields, credential, signature,
token, expiry and every policy condition. Pure functions; time is passed in (Unix seconds).
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .sigv4 import ALGORITHM, sign_policy

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
