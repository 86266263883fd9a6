"""Mutation fuzzing: a damaged GGUF or safetensors file is either read validly or rejected with
one FormatError naming a byte offset, within bounded memory; nothing else may escape."""

from __future__ import annotations

import re
import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelctl.errors import FormatError
from modelctl.formats.read import read_header
from modelctl.formats.source import Cursor
from tests.formats.builders import write_gguf, write_safetensors
from tests.helpers.bytes_source import BytesSource

INTERESTING = [0, 1, 7, 8, 31, 32, 33, 63, 64, 255, 256, 2**31 - 1, 2**32, 2**62, 2**63 - 1,
               2**63, 2**64 - 1]  # fmt: skip
MAX_PEAK = 64 << 20


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("seeds")
    tokens = [f"tok{i}" * (1 + i % 5) for i in range(300)]
    gguf = write_gguf(
        folder / "s.gguf", "qwen3",
        [("token_embd.weight", (16, 64), "Q8_0"), ("blk.0.attn_norm.weight", (64,), "F32"),
         ("blk.0.ffn.weight", (8, 256), "Q4_K")],
        [("qwen3.embedding_length", 64, "UINT32"), ("tokenizer.ggml.tokens", tokens, "ARRAY", "STRING"),
         ("tokenizer.ggml.scores", [0.5] * 300, "ARRAY", "FLOAT32"), ("general.flag", True, "BOOL"),
         ("general.name", "seed", "STRING"), ("comfy.gguf.orig_shape.blk.0.attn_norm.weight",
                                              [64], "ARRAY", "INT32")],
    )  # fmt: skip
    st_path = write_safetensors(
        folder / "s.safetensors",
        [("a.weight", (4, 4), "F16"), ("b.bias", (3,), "F32"), ("c.q", (2, 8), "F8_E4M3")],
        {"config": '{"rank": 32}', "format": "pt"},
    )
    return {"gguf": gguf.read_bytes(), "safetensors": st_path.read_bytes()}


ops = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("u64"), st.integers(0, 10**6), st.sampled_from(INTERESTING)),
    st.tuples(st.just("u32"), st.integers(0, 10**6), st.sampled_from(INTERESTING[:12])),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 64)),
)


def mutate(data: bytes, mutations: list) -> bytes:
    buf = bytearray(data)
    for op, pos, arg in mutations:
        pos = pos % max(len(buf), 1)
        if op == "flip" and buf:
            buf[pos] = arg
        elif op == "u64":
            buf[pos : pos + 8] = struct.pack("<Q", arg)
        elif op == "u32":
            buf[pos : pos + 4] = struct.pack("<I", arg & 0xFFFFFFFF)
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = arg
        elif op == "delete":
            del buf[pos : pos + arg]
    return bytes(buf)


def check(data: bytes) -> object:
    tracemalloc.start()
    try:
        header = read_header(BytesSource(data, name="fuzz"))
    except FormatError as exc:
        assert re.match(r"^fuzz: invalid [A-Za-z ]+ at byte \d+: \S", exc.message), exc.message
        assert "\n" not in exc.message
        header = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MAX_PEAK, f"peak {peak} bytes"
    return header


FUZZ = settings(max_examples=250, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


@FUZZ
@given(mutations=st.lists(ops, min_size=1, max_size=4))
def test_fuzz_gguf(seeds: dict[str, bytes], mutations: list) -> None:
    header = check(mutate(seeds["gguf"], mutations))
    if header is not None and header.format == "gguf":
        for t in header.tensors:
            assert t.offset + t.nbytes <= header.size


@FUZZ
@given(mutations=st.lists(ops, min_size=1, max_size=4))
def test_fuzz_safetensors(seeds: dict[str, bytes], mutations: list) -> None:
    import safetensors

    data = mutate(seeds["safetensors"], mutations)
    header = check(data)
    if header is not None and header.format == "safetensors":
        safetensors.deserialize(data)  # what we accept, the Rust crate accepts too


@settings(max_examples=200, deadline=None)
@given(
    strings=st.lists(
        st.one_of(st.binary(max_size=12), st.binary(min_size=250, max_size=700)),
        min_size=0,
        max_size=300,
    ),
    chunk=st.sampled_from([16, 64, 4096, 1 << 20]),
    cut=st.integers(0, 3),
)
def test_skip_strings_finds_the_end(strings: list[bytes], chunk: int, cut: int) -> None:
    body = b"".join(struct.pack("<Q", len(s)) + s for s in strings)
    data = b"HEAD" + body + b"TAIL"
    cur = Cursor(BytesSource(data), "test", pos=4, chunk=chunk)
    cur.skip_strings(len(strings))
    assert cur.pos == 4 + len(body)
    assert cur.take(4) == b"TAIL"
    if strings and cut:
        cut_data = data[: 4 + len(body) - cut]
        cur = Cursor(BytesSource(cut_data), "test", pos=4, chunk=chunk)
        with pytest.raises(FormatError):
            cur.skip_strings(len(strings))
            cur.take(4)


def test_hostile_declared_sizes_are_bounded() -> None:
    """A 44-byte file declaring 2^62 KVs, and a 32-byte one with a 1 TB string, fail at once."""
    many = b"GGUF" + struct.pack("<IQQ", 3, 0, 2**62) + b"\0" * 20
    huge = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**40)
    for data in (many, huge):
        assert check(data) is None
