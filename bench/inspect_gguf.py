"""Benchmark: modelctl's streaming GGUF header reader vs `gguf.GGUFReader` on real vocab GGUFs.

The llama-cpp-python source distribution vendors llama.cpp's `models/ggml-vocab-*.gguf`: real GGUF
files with full vocabularies (up to ~15 MB of strings), the worst case for a header reader. This
script downloads that sdist from PyPI once (URL and sha256 from PyPI's simple index, cached under
bench/.cache), extracts the vocab files, checks that both readers agree on every key, value and
tensor, then prints per file our time, GGUFReader's time, the ratio, and the peak RSS.

    python bench/inspect_gguf.py [--version 0.3.36] [--repeat 5]

Times are in-process: the median of --repeat runs for us, one run for GGUFReader (it takes
minutes on the largest files). Imports are warmed up before timing. All our runs happen before
the first GGUFReader run, so the first peak-RSS figure is ours alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache"
PACKAGE = "llama-cpp-python"
DEFAULT_VERSION = "0.3.36"
MEMBER_GLOB = "vendor/llama.cpp/models/ggml-vocab-"


def fetch_sdist(version: str) -> Path:
    """Download the sdist once (verified against the index's sha256) and return its path.

    Uses PyPI's simple index in its JSON form (PEP 691), the protocol pip itself speaks.
    """
    from modelctl.store.hashing import hash_file

    CACHE.mkdir(parents=True, exist_ok=True)
    filename = f"{PACKAGE.replace('-', '_')}-{version}.tar.gz"
    target = CACHE / filename
    request = urllib.request.Request(
        f"https://pypi.org/simple/{PACKAGE}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        index = json.load(r)
    sdist = next((f for f in index["files"] if f["filename"] == filename), None)
    if sdist is None:
        raise SystemExit(f"{filename} is not on PyPI")
    if target.exists() and hash_file(target, xxh3=False).sha256 == sdist["hashes"]["sha256"]:
        return target
    print(f"downloading {filename} ({sdist.get('size', 0) / 1e6:.1f} MB) from PyPI", flush=True)
    partial = target.with_suffix(".partial")
    with urllib.request.urlopen(sdist["url"], timeout=300) as r, open(partial, "wb") as out:
        while chunk := r.read(1 << 20):
            out.write(chunk)
    if hash_file(partial, xxh3=False).sha256 != sdist["hashes"]["sha256"]:
        partial.unlink()
        raise SystemExit("sha256 mismatch on the downloaded sdist")
    partial.replace(target)
    return target


def extract_vocabs(sdist: Path) -> list[Path]:
    """Extract vocab/models/ggml-vocab-*.gguf into the cache (once); return them, largest last."""
    out_dir = CACHE / sdist.name.removesuffix(".tar.gz")
    marker = out_dir / ".done"
    if not marker.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as tar:
            for m in tar.getmembers():
                name = m.name.split("/", 1)[-1]
                if m.isfile() and name.startswith(MEMBER_GLOB) and name.endswith(".gguf"):
                    src = tar.extractfile(m)
                    assert src is not None
                    (out_dir / Path(name).name).write_bytes(src.read())
        marker.touch()
    return sorted(out_dir.glob("ggml-vocab-*.gguf"), key=lambda p: p.stat().st_size)


def ours(path: Path, materialise: bool = False):
    from modelctl.formats.gguf import read_gguf
    from modelctl.formats.source import FileSource

    with FileSource(path) as src:
        return read_gguf(src, max_array_items=1 << 62 if materialise else 16)


def agree(path: Path, reader) -> None:
    """Every key, value (long arrays: type and length, plus a full comparison), and tensor."""
    header = ours(path, materialise=True)
    from gguf import GGUFValueType

    fields = {k: f for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert list(fields) == list(header.detail.fields), f"{path.name}: key lists differ"
    for key, f in fields.items():
        mine = header.detail.fields[key]
        assert mine.type == f.types[0].name, (key, mine.type, f.types)
        if f.types[0] == GGUFValueType.ARRAY:
            assert mine.item_type == f.types[-1].name if f.data else True, key
            assert mine.length == len(f.data), key
        assert mine.value == f.contents(), f"{path.name}: value of {key} differs"
    assert len(reader.tensors) == len(header.tensors)
    for t, m in zip(reader.tensors, header.tensors, strict=True):
        assert (t.name, tuple(int(d) for d in t.shape), t.tensor_type.name, t.n_bytes) == (
            m.name, m.stored_shape, m.dtype, m.nbytes,
        ), t.name  # fmt: skip
        assert t.data_offset == m.offset, t.name


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=DEFAULT_VERSION, help="llama-cpp-python version")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-oracle-over", type=float, default=1e12, help="MB; skip GGUFReader")
    args = parser.parse_args()

    files = extract_vocabs(fetch_sdist(args.version))
    if not files:
        raise SystemExit("no ggml-vocab-*.gguf in this sdist")
    ours(files[0])  # warm imports (gguf, numpy) before timing
    mine = {p: timed(lambda p=p: ours(p), args.repeat) for p in files}
    rss_ours = _rss_mib()
    from gguf import GGUFReader

    GGUFReader(files[0])
    print(f"{'file':<34}{'MB':>7}{'modelctl ms':>13}{'GGUFReader ms':>15}{'ratio':>9}")
    for path in files:
        mb = path.stat().st_size / 1e6
        t_ours = mine[path]
        if mb > args.skip_oracle_over:
            print(f"{path.name:<34}{mb:>7.2f}{t_ours * 1e3:>13.1f}{'skipped':>15}{'-':>9}")
            continue
        start = time.perf_counter()
        reader = GGUFReader(path)
        t_ref = time.perf_counter() - start
        agree(path, reader)
        ratio = t_ref / t_ours
        print(f"{path.name:<34}{mb:>7.2f}{t_ours * 1e3:>13.1f}{t_ref * 1e3:>15.1f}{ratio:>8.0f}x")
        del reader
    print(
        f"peak RSS after modelctl's runs: {rss_ours:.0f} MiB; after GGUFReader's: {_rss_mib():.0f} MiB"
    )


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
