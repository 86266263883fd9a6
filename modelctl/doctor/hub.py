"""The Hub as this machine sees it: which endpoint, whether a token is set (never its value), whose
it is, and whether the endpoint answers.

The endpoint and the token come from `modelctl.sources.hf` (`endpoint()`, `hub_token()`), the
functions the downloads call, and the request goes through huggingface_hub (its HTTP session,
headers and errors), so doctor sees exactly the token, endpoint, proxy and offline settings the
downloads use. The request is a GET of `/api/whoami-v2`, under a timeout: with a token it says
whose token it is (or that the Hub rejects it); without one, any HTTP answer (normally 401) proves
the endpoint is up. Only a transport failure is `unreachable`.

Here, not in `modelctl.machine`, because the probe goes through `modelctl.sources` (a layer above
the machine probes); `hub_checks` turns its `HubReport` into doctor's rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from modelctl.doctor.model import Check
from modelctl.redact import redact

TIMEOUT_S = 15.0


@dataclass(frozen=True)
class HubReport:
    endpoint: str
    token_present: bool
    token_source: str | None = None  # "HF_TOKEN" | "token file" | None
    checked: bool = False  # False with --offline / HF_HUB_OFFLINE
    reachable: bool | None = None
    http_status: int | None = None
    account: str | None = None
    token_role: str | None = None
    token_rejected: bool = False
    error: str | None = None


def probe(offline: bool = False, timeout: float = TIMEOUT_S) -> HubReport:
    """Token presence always; whoami and reachability unless `offline` (or HF_HUB_OFFLINE)."""
    from huggingface_hub import constants

    from modelctl.redact import install_log_filter
    from modelctl.sources.hf import endpoint as hub_endpoint

    install_log_filter()
    endpoint = hub_endpoint()
    token, source, token_error = _token()
    base: dict[str, Any] = {
        "endpoint": redact(endpoint),
        "token_present": bool(token),
        "token_source": source,
    }
    if token_error:
        return HubReport(**base, error=token_error)
    if offline or constants.HF_HUB_OFFLINE:
        return HubReport(**base)
    return _ask(endpoint, token, base, timeout)


def _token() -> tuple[str | None, str | None, str | None]:
    from modelctl.sources.hf import hub_token

    try:
        token = hub_token()
    except Exception as exc:  # e.g. a failed OIDC exchange: a finding, not a crash
        return None, None, redact(f"cannot read the Hugging Face token: {exc}")
    if not token:
        return None, None, None
    env = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or ""
    return token, "HF_TOKEN" if env.strip() == token else "token file", None  # token is stripped


def _ask(endpoint: str, token: str | None, base: dict[str, Any], timeout: float) -> HubReport:
    """GET `/api/whoami-v2` through huggingface_hub's session, with the token when there is one.

    Not `HfApi.whoami`: it takes no timeout and huggingface_hub's client sets none, so an endpoint
    that accepts the connection and never answers would hang doctor.
    """
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    headers = build_hf_headers(token=token) if token else None
    try:
        response = get_session().get(f"{endpoint}/api/whoami-v2", headers=headers, timeout=timeout)
    except Exception as exc:
        return _failed(base, exc)
    answered = {**base, "checked": True, "reachable": True, "http_status": response.status_code}
    if not token:
        return HubReport(**answered)
    try:
        hf_raise_for_status(response)
        info = response.json()
    except HfHubHTTPError as exc:
        rejected = response.status_code == 401
        return HubReport(**answered, token_rejected=rejected, error=redact(_first_line(exc)))
    except Exception as exc:  # an answer that is not whoami's JSON
        return _failed(base, exc)
    role = ((info.get("auth") or {}).get("accessToken") or {}).get("role")
    return HubReport(**answered, account=info.get("name"), token_role=role)


def _failed(base: dict[str, Any], exc: Exception) -> HubReport:
    """A transport failure (DNS, refused, TLS, timeout) means unreachable; anything else is an
    answer we could not use, so reachability stays unknown."""
    transport = isinstance(exc, OSError) or any(
        c.__name__ in ("TransportError", "TimeoutException") for c in type(exc).__mro__
    )
    error = redact(_first_line(exc))
    if transport:
        return HubReport(**base, checked=True, reachable=False, error=error)
    return HubReport(**base, checked=True, error=f"{type(exc).__name__}: {error}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def hub_checks(hub: HubReport) -> list[Check]:
    if hub.token_present:
        who = f", account {hub.account}" if hub.account else ""
        role = f" ({hub.token_role} token)" if hub.token_role else ""
        token = Check(
            "hub.token", "ok", f"Hugging Face token set via {hub.token_source}{who}{role}"
        )
    else:
        token = Check("hub.token", "ok", "no Hugging Face token (enough for public repos)", None)
    if hub.error and not hub.checked:
        return [Check("hub.token", "fail", hub.error, "fix or unset HF_TOKEN / HF_TOKEN_PATH")]
    if not hub.checked:
        return [token, Check("hub.endpoint", "skip", f"{hub.endpoint} not contacted (offline)")]
    if hub.reachable is None:
        return [
            token,
            Check(
                "hub.endpoint",
                "warn",
                f"{hub.endpoint}: the Hub check failed: {hub.error}",
                "retry; if it persists, report it with MODELCTL_DEBUG=1",
            ),
        ]
    if not hub.reachable:
        return [
            token,
            Check(
                "hub.endpoint",
                "fail",
                f"cannot reach {hub.endpoint}: {hub.error}",
                "check the network / proxy and HF_ENDPOINT, or use --offline",
            ),
        ]
    if hub.token_rejected:
        return [
            Check(
                "hub.token",
                "fail",
                f"{hub.endpoint} rejects the token from {hub.token_source} (HTTP 401)",
                "create a new token and set HF_TOKEN (or `hf auth login`)",
            ),
            Check("hub.endpoint", "ok", f"{hub.endpoint} answers"),
        ]
    if hub.error:
        return [
            token,
            Check(
                "hub.endpoint",
                "warn",
                f"{hub.endpoint} answers, but whoami failed: {hub.error}",
                "a mirror may not implement /api/whoami-v2; downloads may still work",
            ),
        ]
    return [token, Check("hub.endpoint", "ok", f"{hub.endpoint} answers (HTTP {hub.http_status})")]
