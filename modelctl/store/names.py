"""Names modelctl derives from a destination's name, kept within what a filesystem takes.

Stdlib only (and `hashlib` only for a name that is too long): `store.atomic` uses it, and the
`comfyui-paths` fast path imports that.
"""

from __future__ import annotations

import os

# bytes in one file name: Linux's NAME_MAX (torvalds/linux include/uapi/linux/limits.h @ v6.6),
# what ext4, xfs, btrfs and tmpfs take. Names derived from a destination are cut to it (`fit_name`).
NAME_MAX = 255


def fit_name(stem: str, suffix: str = "", limit: int = NAME_MAX) -> str:
    """`stem + suffix`, or, when that is longer than `limit` bytes, `stem` cut at a character
    boundary and tagged with a digest of the whole stem: still unique and still recognisable.

    Every name modelctl derives from a destination (lock files, staged copies, temporary files)
    goes through here, so a destination name the filesystem takes never makes a derived name it
    refuses (ENAMETOOLONG). Names that fit are unchanged, so existing locks keep their names.
    """
    name = stem + suffix
    if len(os.fsencode(name)) <= limit:
        return name
    import hashlib  # only for names too long: the no-op `ensure` path never gets here

    raw = stem.encode("utf-8", "surrogateescape")
    tag = "~" + hashlib.sha256(raw).hexdigest()[:16]
    room = max(0, limit - len(os.fsencode(tag + suffix)))
    return raw[:room].decode("utf-8", "ignore") + tag + suffix  # "ignore": no half character
