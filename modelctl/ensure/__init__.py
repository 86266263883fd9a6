"""`modelctl ensure`: make stacks present at container start; return at once when they already are.

Two paths share this package (`fast`, stdlib only, and `run`), around a cache (`cache`):

* **Fast path** (`fast_main`, stdlib only: json, os, sys, time). A container restart with every file
  in place must cost about one interpreter start, so it cannot parse YAML manifests (PyYAML alone
  costs more than the whole budget) nor import huggingface_hub, rich or typer. Instead the slow
  path, after a successful ensure, records in `<models>/.modelctl/ensure-cache.json` what the SPECs
  resolved to: each asset's dest plus the facts that decide "outdated" (source, pinned sha256,
  pinned commit), and the stat stamps (mtime_ns, size, inode) of every manifest file and manifest
  folder the resolution read. The fast path re-stats those, reads each asset's receipt and stats
  its file (receipt identity = size + mtime_ns + inode, see `store/receipts.py`), and returns 0
  when all hold. Anything unexpected (no cache, other options, a changed manifest, a file gone, a
  parse error) returns None and the caller runs the full command: the cache can make ensure
  faster, never wrong.
* **Slow path** (`run`): resolve the SPECs, plan, and when something is missing run the
  compatibility check on the whole stacks and pull only the missing files, all inside one
  `--timeout` deadline; `--offline` never touches the network and lists what is missing. Heavy
  imports happen inside the functions.

The cache key includes the working directory (a SPEC may be a relative manifest path) and the
manifest search folders (`$MODELCTL_MANIFESTS`, `--manifests`); concurrent writers replace the file
atomically, so the worst a race does is drop an entry, which costs one slow run.
"""

from __future__ import annotations

from modelctl.ensure.fast import fast_main

__all__ = ["fast_main"]
