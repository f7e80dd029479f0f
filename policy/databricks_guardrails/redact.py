"""What counts as a secret, and how every report and message hides one: the one redaction module.

Two rules, applied together:
- a value under a key that names a secret (`db_password`, `apiToken`, `client.secret`, a job
  parameter named `API_KEY`) is hidden whatever it looks like;
- a value shaped like a credential (a Databricks token, a GitHub or Pulumi token, a JWT, a
  private key, a long run of hex or base64) is hidden wherever it is.

A hidden value is replaced whole by `[redacted: <why>]`: no prefix, no suffix, no length, so a
report says where a secret is and never any part of it. A secret scope reference
(`{{secrets/<scope>/<key>}}`) is not a secret and is shown.

The policy pack imports nothing from the project (it runs in its own venv), so this module lives
in the pack and uses the standard library only; the project's tools (the drift report, the
release builds' output) import it from here, so there is one definition of a secret.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted: {why}]"
SECRET_REFERENCE = re.compile(r"\{\{secrets/[^/{}\s]+/[^/{}\s]+\}\}")

# Shapes of credentials, each with what it is (named in the redaction).
TOKEN_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        (
            "private key",
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----)?",
        ),
        ("Databricks token", r"\bdapi[0-9a-f]{32}(?:-\d+)?"),
        ("Databricks OAuth secret", r"\bdose[0-9a-f]{32}"),
        ("GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
        ("Pulumi token", r"\bpul-[0-9a-f]{40}"),
        ("AWS access key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        ("Slack token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
        ("JWT", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        # Long hex: API keys, OAuth secrets. A content digest says what it is ("sha256:...")
        # and is kept: the drift report names changed files by theirs.
        (
            "hex secret",
            r"(?<![0-9A-Za-z])(?<!sha1:)(?<!sha256:)(?<!sha512:)"
            r"(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{32,}(?![0-9A-Za-z])",
        ),
    )
)
# The user information of a URL (`https://build:<token>@pkgs.example.com/simple`, a pip index in
# a serverless environment's dependencies): whatever the password looks like, it is one. Hidden
# by redaction only; whether a job may carry one at all is the secrets guardrail's rule.
URL_CREDENTIALS = re.compile(r"(?<=://)[^\s/@:]+:[^\s/@]+(?=@)")
# Candidates for a base64 secret (storage account keys, client secrets): a long run of base64
# characters, kept only if it looks random (`_looks_random`), so that paths and names survive.
BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/=_-])")
SECRET_WORDS = {
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "credentials",
    "apikey",
    "privatekey",
}
SECRET_WORD_PAIRS = {("api", "key"), ("private", "key"), ("access", "key"), ("account", "key")}
# `key = value`, `key: value`, `"key": "value"`, `--key value` in free text.
KEY_VALUE = re.compile(
    r"""(?P<key>[A-Za-z_][\w.-]*)(?P<sep>["']?\s*[:=]\s*["']?)(?P<value>[^\s"',;}\]]+)"""
)
FLAG_VALUE = re.compile(r"""(?P<key>--[\w.-]+)(?P<sep>\s+)(?P<value>[^\s"',;}\]-][^\s"',;}\]]*)""")
# Identifiers that are not secrets although they look random (service principals' application
# ids, workspace object ids): left out before a run is measured.
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# In a list of {name, value} entries (job parameters, env lists), the field that holds the value.
NAMED_VALUE_FIELDS = ("value", "default")


def _words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def names_a_secret(key: str) -> bool:
    """`db_password`, `spark.hadoop...client.secret`, `apiToken`, `API_KEY`,
    `fs.azure.account.key...`; not `tokenizer`, not `task_key`."""
    words = _words(key)
    return bool(SECRET_WORDS.intersection(words)) or any(
        pair in SECRET_WORD_PAIRS for pair in zip(words, words[1:], strict=False)
    )


def _looks_random(run: str) -> bool:
    """A base64 run that is a secret rather than a path or a name: letters and digits, few
    separators, vowels as rare as in random text, and close to the entropy of random base64.
    Measured by benchmarks/redaction.py (about 97% of random 32-character secrets, 98% of 40;
    none of the project's paths and names); the key and token-shape rules come first."""
    core = UUID.sub("", run.rstrip("="))
    # An absolute path below a top-level folder (`/Production/etl-pipeline-drift-29bcb3c4`):
    # random base64 starts with '/' once in 64 and holds another '/' about half the time, so this
    # costs under 1% of secrets and keeps every workspace path with a random-looking folder name
    # readable (a workspace root is always at least two folders deep).
    if core.startswith("/") and core.count("/") >= 2:
        return False
    # Random base64 of 32+ characters holds both cases and a digit (all but about 1 in 10^6);
    # a lower-case name (`etl-pipeline-staging-2f9c...`) does not.
    if len(core) < 32 or not all(re.search(c, core) for c in ("[0-9]", "[a-z]", "[A-Z]")):
        return False
    # Words joined by separators (a long name or path) have one every few characters; random
    # base64 has about one '/' or '+' (or '-', '_') in 32.
    if sum(core.count(c) for c in "/+_-") > len(core) * 0.15:
        return False
    letters = [c for c in core if c.isalpha()]
    if not letters or sum(c in "aeiouAEIOU" for c in letters) >= 0.35 * len(letters):
        return False  # words: about 38% of their letters are vowels; random letters 19%
    counts: dict[str, int] = {}
    for char in core:
        counts[char] = counts.get(char, 0) + 1
    entropy = -sum(n / len(core) * math.log2(n / len(core)) for n in counts.values())
    return entropy >= 4.0  # random base64 of 32+ characters: about 4.5 bits and up


# The shape rules that are guesses (a random-looking run), not a credential format: redaction
# applies them (hiding too much costs little); the guardrails do not (a commit id passed as a job
# parameter is no secret, and a mandatory policy must not refuse it).
GUESSED_SHAPES = {"hex secret", "base64 secret"}


def token_shape(value: str, guesses: bool = True) -> str | None:
    """What credential `value` contains, if any (None: nothing shaped like one); `guesses=False`
    names only credential formats (a Databricks token, a JWT...), no random-looking runs."""
    for name, pattern in TOKEN_SHAPES:
        if (guesses or name not in GUESSED_SHAPES) and pattern.search(value):
            return name
    if guesses and any(_looks_random(m.group(0)) for m in BASE64_RUN.finditer(value)):
        return "base64 secret"
    return None


def _hidden(why: str) -> str:
    return REDACTED.format(why=why)


def redact_text(text: str) -> str:
    """`text` with every credential-shaped run and every value of a key naming a secret hidden."""
    for name, pattern in TOKEN_SHAPES:
        text = pattern.sub(_hidden(name), text)
    text = URL_CREDENTIALS.sub(_hidden("credentials in a URL"), text)
    text = BASE64_RUN.sub(
        lambda m: _hidden("base64 secret") if _looks_random(m.group(0)) else m.group(0), text
    )

    def by_key(match: re.Match[str]) -> str:
        value = match.group("value")
        if (
            not names_a_secret(match.group("key"))
            or value.startswith("[redacted")
            or SECRET_REFERENCE.fullmatch(value)
        ):
            return match.group(0)
        return match.group("key") + match.group("sep") + _hidden("its key names a secret")

    return FLAG_VALUE.sub(by_key, KEY_VALUE.sub(by_key, text))


def redact_value(value: Any, key: str | None = None) -> Any:
    """`value` (any JSON-like structure) with secrets hidden: everything under a key that names
    a secret, the value of a {name, value/default} entry whose name names one, and every
    credential-shaped string. Returns a new structure; `value` is left as it is."""
    if key is not None and names_a_secret(key) and value not in (None, "", [], {}):
        if isinstance(value, str) and SECRET_REFERENCE.fullmatch(value):
            return value
        if not isinstance(value, (Mapping, list, tuple)):
            return _hidden("its key names a secret")
    if isinstance(value, Mapping):
        name = value.get("name", value.get("key"))
        secret_entry = isinstance(name, str) and names_a_secret(name)
        return {
            k: (
                redact_value(v, str(name))
                if secret_entry and k in NAMED_VALUE_FIELDS
                else redact_value(v, str(k))
            )
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_value(v, key) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def last_key(path: str) -> str:
    """The key a dotted path ends in: `tasks[main].new_cluster.spark_env_vars.DB_PASSWORD` ->
    `DB_PASSWORD`; `parameters[api_token]` -> `api_token`."""
    tail = path.rsplit(".", 1)[-1]
    bracket = re.fullmatch(r"[^\[]*\[([^\]]+)\]", tail)
    return bracket.group(1) if bracket else tail
