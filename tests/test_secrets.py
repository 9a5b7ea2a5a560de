"""secrets.Redactor: every form a secret can take in text is masked, and what it cannot catch.

A property test over random secrets (fixed seeds, so a failure replays): each secret is written
raw, percent-encoded (either hex case, ``quote`` and ``quote_plus``), as base64 and base64url at
every alignment inside a longer encoded text, as ``Basic base64(user:secret)``, JSON- and
repr-escaped, and as a mapping key. After redaction no decoding of what is left gives the secret
back. The limits the module docstring states are pinned down by examples at the end.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import re
import string
import warnings
from collections.abc import Iterator
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import pytest

from naftiko_runtime.secrets import MIN_SECRET_LENGTH, Redactor, Secret, redact, secret_forms

SEEDS = range(25)
PER_SEED = 8
ALPHABET = string.ascii_letters + string.digits + string.punctuation + " " + "éßøЖ中€"
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]+")


def random_secret(rnd: random.Random) -> str:
    """6 to 40 characters (shorter ones have documented limits), no surrounding whitespace."""
    return "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(6, 40))).strip() or "fallback-secret"


def noise(rnd: random.Random, size: int) -> str:
    return "".join(rnd.choice(string.ascii_letters + " .:") for _ in range(size))


def decodings(text: str) -> Iterator[bytes]:
    """Every byte string a reader could decode from base64 or base64url runs of ``text``, at any offset."""
    for run in _B64_RUN.findall(text):
        for start in range(4):
            chunk = run[start:]
            chunk = chunk[:-1] if len(chunk) % 4 == 1 else chunk  # one character alone decodes to nothing
            if not chunk:
                continue
            chunk += "=" * (-len(chunk) % 4)
            for altchars in (b"+/", b"-_"):
                try:
                    yield base64.b64decode(chunk.encode(), altchars=altchars)
                except ValueError:
                    continue


def unescaped(text: str) -> Iterator[str]:
    """``text`` with Python escapes read back (``repr`` of text, and of UTF-8 bytes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a cut escape sequence is no secret
        plain = text.encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")
    yield plain
    with contextlib.suppress(UnicodeError):
        yield plain.encode("latin-1").decode("utf-8")


def recoverable(secret: str, text: str) -> bool:
    """Whether ``secret`` can be read back from ``text`` by any decoding the redactor claims to cover."""
    raw = secret.encode()
    texts = {text, unquote(text), unquote_plus(text), unquote(text.lower()), unquote(text.upper())}
    for candidate in list(texts):
        with contextlib.suppress(ValueError):
            texts.add(json.loads(f'"{candidate}"'))
        texts.update(unescaped(candidate))
    if any(secret.casefold() in t.casefold() for t in texts):  # the redactor claims every letter case
        return True
    return any(raw in decoded for decoded in decodings(text))


def encoded_forms(secret: str, rnd: random.Random) -> Iterator[tuple[str, str]]:
    """(label, text holding ``secret`` in that encoding), with random surroundings."""
    raw = secret.encode()
    yield "raw", f"{noise(rnd, 5)} token {secret} {noise(rnd, 5)}"
    yield "percent upper", f"https://api.test/x?key={quote(secret, safe='')}&n=1"
    yield "percent lower", "q=" + re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe=""))
    yield "percent path", "/v1/" + quote(secret)
    every_byte = "".join(f"%{byte:02X}" for byte in raw)
    yield "percent every byte", f"k={every_byte}"
    yield "percent every byte lower", f"k={every_byte.lower()}"
    if len(secret.upper()) == len(secret.lower()) == len(secret):  # not `ß` -> `SS`: see the module's limits
        yield "lower case", f"could not reach {secret.lower()}.invalid: host name not found"  # a host name
        yield "upper case", f"ECHO: {secret.upper()}"
    yield "form", "grant_type=client_credentials&client_secret=" + quote_plus(secret)
    for size in range(6):  # every alignment of the secret in 3-byte groups, with more bytes after it
        prefix = bytes(rnd.randrange(256) for _ in range(size))
        suffix = bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 5)))
        encoded = base64.b64encode(prefix + raw + suffix).decode()
        yield f"base64 +{size}", f"echo: {encoded} done"
        yield f"base64url +{size}", "id=" + base64.urlsafe_b64encode(prefix + raw + suffix).decode().rstrip("=")
    user = noise(rnd, rnd.randint(1, 9)).replace(":", "")
    yield "basic", "Authorization: Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
    yield "basic user", "Basic " + base64.b64encode(f"{secret}:pw".encode()).decode()
    yield "bearer header base64", base64.b64encode(f"Bearer {secret}".encode()).decode()
    yield "json", json.dumps({"error": f"bad token {secret}"})
    yield "json ascii", json.dumps({"detail": secret}, ensure_ascii=True)
    yield "repr", f"Illegal header value {secret.encode()!r}"
    yield "repr text", f"value {secret!r} refused"


@pytest.mark.parametrize("seed", SEEDS)
def test_every_encoding_of_a_random_secret_is_masked(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(PER_SEED):
        secret = random_secret(rnd)
        redactor = Redactor([Secret(secret)])
        for label, text in encoded_forms(secret, rnd):
            assert recoverable(secret, text), (label, "the check itself must see the secret before redaction")
            masked = redactor.text(text)
            assert "***" in masked, (label, secret, text)
            assert not recoverable(secret, masked), (label, secret, text, masked)


@pytest.mark.parametrize("seed", SEEDS)
def test_secrets_are_masked_in_mapping_keys_and_values_at_any_depth(seed: int) -> None:
    rnd = random.Random(1000 + seed)
    secrets = [random_secret(rnd) for _ in range(3)]
    first, second, third = secrets
    tree = {
        first: "a value",
        "nested": [{f"x-{second}-y": {"echo": f"Basic {base64.b64encode(f'u:{third}'.encode()).decode()}"}}],
        "url": f"https://h/?k={quote(first, safe='')}",
        "count": 3,
        "flag": None,
    }
    masked = Redactor(secrets).tree(tree)
    dumped = json.dumps(masked, ensure_ascii=False)
    assert all(not recoverable(secret, dumped) for secret in secrets), dumped
    assert masked["count"] == 3 and masked["flag"] is None
    assert "***" in masked and "x-***-y" in masked["nested"][0]
    assert tree[first] == "a value"  # the input is not modified


def test_the_longest_form_wins_so_no_part_of_a_longer_secret_is_left() -> None:
    assert redact("key=abcdef short=abc key2=abcdef", ["abc", "abcdef"]) == "key=*** short=*** key2=***"


def test_a_secret_with_surrounding_whitespace_is_masked_trimmed_too() -> None:
    redactor = Redactor([Secret("  s3cr3t-value\n")])
    assert redactor.text("token was s3cr3t-value.") == "token was ***."


def test_extended_adds_a_calls_own_secrets_and_keeps_the_others() -> None:
    base = Redactor(["first-secret"])
    extended = base.extended(["second-secret"])
    assert extended.text("first-secret second-secret") == "*** ***"
    assert base.text("second-secret") == "second-secret"
    assert base.extended(["first-secret"]) is base


def test_secret_forms_and_a_redactor_built_from_forms_agree() -> None:
    forms = secret_forms(["abc\tSECRET456"])
    assert Redactor(forms=forms).text('{"v": "abc\\tSECRET456"}') == '{"v": "***"}'


def test_a_secret_never_shows_in_its_repr() -> None:
    secret = Secret("tok-7f3a9c1e")
    assert "tok-7f3a9c1e" not in repr(secret) and "tok-7f3a9c1e" not in repr({"T": secret})
    assert str(secret) == "tok-7f3a9c1e"


# ------------------------------------------------------------------------------ documented limits


def test_values_shorter_than_the_minimum_are_not_secrets() -> None:
    short = "x" * (MIN_SECRET_LENGTH - 1)
    assert not Redactor([short])
    assert Redactor([short]).text(f"a {short} b") == f"a {short} b"
    assert Redactor([True, None, {"a": 1}, ["b"]]).forms == frozenset()


def test_other_encodings_are_not_caught() -> None:
    secret = "hex-or-gzip-secret"
    redactor = Redactor([secret])
    hexed = secret.encode().hex()
    assert redactor.text(f"x={hexed}") == f"x={hexed}"


def test_base64_of_a_secret_shorter_than_six_characters_is_not_caught() -> None:
    secret = "k3y9"  # masked as written, but its base64 fragments would match ordinary text
    redactor = Redactor([secret])
    assert redactor.text(f"key {secret}") == "key ***"
    for size in range(3):  # at no alignment
        encoded = base64.b64encode(b"\x00" * size + secret.encode() + b"\x00").decode()
        assert redactor.text(encoded) == encoded


def test_a_secret_split_across_two_strings_is_not_caught() -> None:
    secret = "split-across-strings"
    masked = Redactor([secret]).tree(["split-acr", "oss-strings"])
    assert masked == ["split-acr", "oss-strings"]
