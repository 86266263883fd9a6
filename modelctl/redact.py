"""Secrets never leave the process: tokens, URL credentials and signed query strings are redacted.

Signed CDN URLs are bearer credentials (their signature is in the query string), `hf_…` tokens
travel in headers that exceptions like to echo, and a Civitai link carries its API key as `token=`.
Every line the CLI prints goes through `redact` (`modelctl.cli.output` wraps stdout and stderr),
and so does every message and log record that may hold a URL; `install_log_filter` routes
huggingface_hub's own log records (which include request URLs) through it too.

`redact` works on the text by pattern, never by parsing a URL first: a URL that does not parse (a
`Location` with a space, a broken IPv6 bracket, stray quotes, non-ASCII) is exactly the one an
error message quotes. It removes, wherever they appear:

- the values (of 8 characters or more) of the secret environment variables (`SECRET_ENV`) and
  the passwords of the proxy variables, also percent-encoded or escaped as in a JSON string;
- user info in URLs (`scheme://user:password@host`);
- the value of every credential parameter (`name=value`, after `?`, `&`, `#`, `;`, a space, …)
  whose name, percent-decoded and in any case, `is_credential_param`: the AWS SigV4
  (`X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`), GCS V4 (`X-Goog-Signature`,
  `X-Goog-Credential`), CloudFront (`Signature`, `Policy`, `Key-Pair-Id`), Azure SAS (`sig`),
  Civitai and generic (`token`, `key`, `api_key`, `access_token`, `password`, …) forms;
- `Authorization` / `Cookie` header values and credential-named `X-…` headers, quoted secret keys
  of JSON objects and Python reprs (`{"token": "…"}`), JSON Web Tokens, and `hf_…` tokens.

Other query parameters stay (`?download=true`, Civitai's `type=Model&format=SafeTensor`), so a
redacted URL still says what it points at, and a manifest printed through `redact` still loads.
"""

from __future__ import annotations

import functools
import os
import re
from urllib.parse import quote, unquote

TYPE_CHECKING = False
if TYPE_CHECKING:  # `logging` costs ~15 ms at import; only the filter needs it, lazily
    import logging
    from collections.abc import Callable

REDACTED = "<redacted>"

# environment variables whose values are secrets: huggingface_hub's token variables (read by
# `_get_token_from_environment`, src/huggingface_hub/utils/_auth.py @ v2.4.0) and the Civitai API
# key names that download tools read
SECRET_ENV = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "CIVITAI_API_TOKEN",
    "CIVITAI_API_KEY",
    "CIVITAI_TOKEN",
)
MIN_SECRET_LEN = 8  # a shorter value ("test", "true") would redact ordinary words and JSON
# proxy variables (as urllib.request.getproxies_environment reads them, any case): the password
# in their user info is a secret wherever it is printed, with or without a scheme in front
PROXY_ENV = ("http_proxy", "https_proxy", "all_proxy")

# A parameter is a credential when its name holds one of these (percent-decoded, lowercased):
# `sig` (sig, Signature, X-Amz-Signature, X-Goog-Signature, X-Xet-Signed-*), `token` (token,
# access_token, X-Amz-Security-Token, __token__), `key` (key, api_key, apikey, Key-Pair-Id,
# AWSAccessKeyId), `cred` (X-Amz-Credential, X-Goog-Credential), `auth`, `pass`, `pwd`,
# `secret`, `policy` (CloudFront), `session`, `jwt`, `hdnts` / `hdnea` (Akamai token auth).
# Broad on purpose: redacting a harmless value costs a word of output; missing one leaks a secret.
CREDENTIAL_WORDS = (
    "sig", "token", "key", "cred", "auth", "pass", "pwd", "secret", "policy", "session", "jwt",
    "hdnts", "hdnea",
)  # fmt: skip
# whole names that sign URLs without any of the words: imgix `s`, Cloudflare `verify`, nginx
# secure_link `md5`, and `hash` / `hmac` of many CDN token schemes
CREDENTIAL_NAMES = frozenset({"s", "verify", "md5", "hash", "hmac"})

# RFC 3986 §2.3: unreserved characters, plain or percent-encoded (once, or twice as `%25XX`);
# a percent-encoded anything else (`%26` &, `%3F` ?, `%3D` =, …) ends a parameter name.
_HEX_UNRESERVED = r"(?:2[DdEe]|3[0-9]|4[1-9A-Fa-f]|5[0-9AaFf]|6[1-9A-Fa-f]|7[0-9AaEe])"
_ENC_UNRESERVED = rf"%(?:25)?{_HEX_UNRESERVED}"
_NAME_CHAR = rf"(?:[A-Za-z0-9_.~-]|{_ENC_UNRESERVED})"
# a name starts where no name character precedes it: after a delimiter, plain or encoded
_NAME_START = (
    r"(?:(?<![A-Za-z0-9_.~%-])"
    rf"|(?<=%[0-9A-Fa-f]{{2}})(?<!%25)(?<!%{_HEX_UNRESERVED})"
    rf"|(?<=%25[0-9A-Fa-f]{{2}})(?<!%25{_HEX_UNRESERVED}))"
)
_SEP = r"(?:=|%(?:25)?3[Dd])"
_NAME_SEP = re.compile(rf"{_NAME_START}(?P<name>{_NAME_CHAR}+)(?P<sep>{_SEP})")
# a value runs to `&`, `#`, `;`, white space, a quote, `<`, `>`, `\\` or their encodings; or it
# is quoted (`token='…'`)
_VALUE = re.compile(
    r"(?P<q>['\"])[^'\"\s&#;<>\\]+(?P=q)"
    r"|(?:[^&#;\s'\"<>\\%]|%(?!(?:25)?(?:26|23|3[Bb]|20|22|27)))+"
)
# user info: what follows `://` up to the last `@` of the authority
_USERINFO = re.compile(r"(?<=://)[^/?#\s'\"<>]*@")
_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{8,}\b")
# header lines as exceptions echo them: `Authorization: Bearer …`, `Cookie: …`, and `X-…`
# headers named like a credential (`X-Amz-Security-Token: …`, `X-Goog-Api-Key: …`)
_HEADER = re.compile(
    r"(?i)((?:proxy-)?authorization|(?:set-)?cookie)(['\"]?\s*[:=]\s*['\"]?)"
    r"((?:bearer|basic|token)\s+)?[^\s'\",}]+"
    r"|(\bx-[\w-]*(?:token|key|sig|secret|auth|cred|pass)[\w-]*)(['\"]?\s*:\s*['\"]?)()"
    r"[^\s'\",}]+"
)
# a JSON Web Token (RFC 7519 §3: base64url header `{"` = `eyJ`, payload, signature)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")
# a quoted key holding a secret in a JSON object or a Python dict repr: `{"token": "…"}`
_QUOTED_KEY = re.compile(
    r"(?i)(?P<k>['\"])(?P<key>(?:access_|refresh_|id_|hf_)?token|api_?key|x-api-key|password"
    r"|passwd|(?:client_)?secret|authorization)(?P=k)(?P<colon>\s*:\s*)"
    r"(?P<q>['\"])(?:(?!(?P=q))[^\\]|\\.)*(?P=q)"
)


def clean_token(value: str) -> str:
    """A token as huggingface_hub reads it from the environment or a file: CR and LF removed,
    surrounding white space stripped (`_clean_token`, src/huggingface_hub/utils/_auth.py @
    v2.4.0), so that `echo hf_… > file` works and the value we redact is the value we send."""
    return value.replace("\r", "").replace("\n", "").strip()


def _secret_env() -> tuple[str, ...]:
    """The raw secret values in the environment: tokens, and proxy user info passwords."""
    values = [os.environ.get(name) or "" for name in SECRET_ENV]
    for name in PROXY_ENV:
        for value in (os.environ.get(name) or "", os.environ.get(name.upper()) or ""):
            if "@" in value:
                userinfo = value.partition("://")[2 if "://" in value else 0].rpartition("@")[0]
                values.append(userinfo.partition(":")[2])
    return tuple(v for v in values if v)


def secret_values() -> tuple[str, ...]:
    """The secret environment values in every form they may be printed in, longest first."""
    return _printed_forms(_secret_env())


@functools.lru_cache(maxsize=8)  # a pure function of its argument: redact runs per printed line
def _printed_forms(raws: tuple[str, ...]) -> tuple[str, ...]:
    forms: set[str] = set()
    for raw in raws:
        for value in {raw, clean_token(raw), unquote(raw)}:
            if len(value) < MIN_SECRET_LEN:
                continue
            forms |= {value, quote(value, safe=""), quote(value)}
            if not value.isascii() or not value.isprintable() or '"' in value or "\\" in value:
                import json

                forms |= {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    return tuple(sorted((f for f in forms if len(f) >= MIN_SECRET_LEN), key=len, reverse=True))


def param_name(name: str) -> str:
    """A query parameter's name as a server reads it: percent-decoded (up to twice), lowercased."""
    for _ in range(2):
        decoded = unquote(name)
        if decoded == name:
            break
        name = decoded
    return name.lower()


def is_credential_param(name: str) -> bool:
    """Whether a query (or fragment) parameter of this name carries a credential (see above)."""
    key = param_name(name)
    return key in CREDENTIAL_NAMES or any(word in key for word in CREDENTIAL_WORDS)


def _redact_params(text: str) -> str:
    """Replace the value of every credential parameter; the others are left as they are, and a
    non-credential value is scanned too (it may hold an encoded URL with its own parameters)."""
    out, done = [], 0
    for match in _NAME_SEP.finditer(text):
        if match.start() < done or not is_credential_param(match["name"]):
            continue  # inside a value already redacted, or an ordinary parameter
        value = _VALUE.match(text, match.end())
        if value is None:
            continue  # an empty value: nothing to hide
        quote_char = value["q"] or ""
        out += [text[done : match.end()], quote_char, REDACTED, quote_char]
        done = value.end()
    return "".join(out) + text[done:] if out else text


def _header(match: re.Match[str]) -> str:
    name, sep, scheme = match.group(1, 2, 3) if match[1] else match.group(4, 5, 6)
    return f"{name}{sep}{scheme or ''}{REDACTED}"


def redact(text: str) -> str:
    """`text` with every secret in it replaced by `<redacted>` (see the module doc)."""
    return redact_with(text, secret_values())


def redactor() -> Callable[[str], str]:
    """`redact` with the environment's secrets read once, for many strings in a row (reading the
    environment costs more than redacting a short string)."""
    return functools.partial(redact_with, secrets=secret_values())


def redact_with(text: str, secrets: tuple[str, ...]) -> str:
    """`redact`, with the secret values to remove given (`secret_values()`)."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    # each pattern needs a character that most printed text lacks: test for it first (cheap)
    if "://" in text:
        text = _USERINFO.sub("", text)
    if "=" in text or "%" in text:
        text = _redact_params(text)
    if ":" in text or "=" in text:
        text = _HEADER.sub(_header, text)
        text = _QUOTED_KEY.sub(lambda m: f"{m['k']}{m['key']}{m['k']}{m['colon']}{m['q']}"
                               f"{REDACTED}{m['q']}", text)  # fmt: skip
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    if "hf_" in text:
        text = _TOKEN.sub("hf_" + REDACTED, text)
    return text


def redact_record(record: logging.LogRecord) -> bool:
    """A logging filter (a plain callable): rewrite the record's message through `redact`."""
    record.msg = redact(record.getMessage())
    record.args = ()
    return True


def install_log_filter(logger_name: str = "huggingface_hub") -> None:
    """Redact the records of `logger_name` (idempotent)."""
    import logging

    logger = logging.getLogger(logger_name)
    if redact_record not in logger.filters:
        logger.addFilter(redact_record)
