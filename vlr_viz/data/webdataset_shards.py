"""webdataset tar shards: samples of an image (``jpg``/``jpeg``/``png``/``webp``) and a caption (``txt``),
optionally a class id (``cls``).

``wds:SHARD_PATTERN`` expands the pattern as webdataset does (``shards/{000000..000009}.tar``, ``::``-joined
lists; `webdataset.shardlists.expand_urls`) and groups each shard's members into samples by webdataset's key rule
(`webdataset.tariterators.base_plus_ext`: the name up to the first dot of the file name). Only member headers and
the small caption files are read at load time; images are read from the shards, on demand, when encoded
(`~vlr_viz.data.sources.TarImages`). A shard that is not a tar archive, or is cut short or damaged (which `tarfile`
alone would read as fewer samples), is refused naming it.
"""
from __future__ import annotations

import tarfile
from pathlib import Path

from ..errors import DataFormatError
from .assemble import PairRows
from .sources import TarImages

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")


def expand_shards(pattern: str) -> list[str]:
    """The shard paths of a webdataset pattern, each checked to exist."""
    from webdataset.shardlists import expand_urls

    shards = expand_urls(pattern)
    if not shards:
        raise DataFormatError(f"shard pattern {pattern!r} names no file")
    for s in shards:
        if not Path(s).is_file():
            raise DataFormatError(f"shard {s} (from {pattern!r}) does not exist")
    return shards


def _open(shard: str) -> tarfile.TarFile:
    try:
        return tarfile.open(shard, "r")
    except tarfile.ReadError:
        raise DataFormatError(f"shard {shard} is not a tar archive (plain, gzip, bz2 or xz)") from None
    except (OSError, tarfile.TarError, EOFError) as e:
        raise DataFormatError(f"cannot read shard {shard}: {e}") from e


def _whole_members(tar: tarfile.TarFile, shard: str) -> list[tarfile.TarInfo]:
    """The members of a shard, after checking that it is whole.

    `tarfile` ends its listing without a word at a header that is cut short or damaged, or at the end of a file cut
    at a member boundary. A whole archive ends with the end-of-archive marker (POSIX.1-1988 ustar: blocks of 512
    zero bytes), so the block after the last member must be zeros; data cut short is refused by `tarfile` itself.
    """
    try:
        members = tar.getmembers()
        tar.fileobj.seek(tar.offset)
        end = tar.fileobj.read(tarfile.BLOCKSIZE)
    except (OSError, tarfile.TarError, EOFError) as e:
        raise DataFormatError(f"shard {shard} is cut short or damaged: {e}") from e
    if not end or end.strip(b"\0"):
        last = f", the last {members[-1].name}" if members else ""
        raise DataFormatError(f"shard {shard} is cut short or damaged: no tar header or end-of-archive marker at "
                              f"byte {tar.offset} (after {len(members)} members{last})")
    return members


def _samples(tar: tarfile.TarFile, shard: str) -> dict[str, dict[str, tarfile.TarInfo]]:
    from webdataset.tariterators import base_plus_ext

    samples: dict[str, dict[str, tarfile.TarInfo]] = {}
    for member in _whole_members(tar, shard):
        if not member.isfile():
            continue
        key, ext = base_plus_ext(member.name)
        if key is not None:
            samples.setdefault(key, {})[ext.lower()] = member
    return samples


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo, where: str) -> bytes:
    try:
        return tar.extractfile(member).read()
    except (OSError, tarfile.TarError, EOFError) as e:
        raise DataFormatError(f"{where}: cannot read {member.name}: {e}") from e


def load_webdataset(pattern: str):
    """The `PairSet` of webdataset shards (module docstring); every sample needs one image and a ``txt``
    caption, and errors name the shard and sample key."""
    rows, members, ids = PairRows(), [], []
    for shard in expand_shards(pattern):
        with _open(shard) as tar:
            for key, parts in _samples(tar, shard).items():
                where = f"{shard}: sample {key}"
                image_ext = next((e for e in IMAGE_EXTENSIONS if e in parts), None)
                if image_ext is None:
                    raise DataFormatError(f"{where} has no image ({'/'.join(IMAGE_EXTENSIONS)}); it has "
                                          f"{sorted(parts)}")
                if "txt" not in parts:
                    raise DataFormatError(f"{where} has no caption (txt); it has {sorted(parts)}")
                try:
                    caption = _read(tar, parts["txt"], where).decode("utf-8")
                except UnicodeDecodeError:
                    raise DataFormatError(f"{where}: its txt is not UTF-8 text") from None
                category = None
                if "cls" in parts:
                    category = _read(tar, parts["cls"], where).decode("utf-8", "replace").strip() or None
                rows.add(f"{shard}#{key}", caption, category, where)
                members.append((shard, parts[image_ext].name))
                ids.append(f"wds:{Path(shard).name}/{key}")
    if not members:
        raise DataFormatError(f"shards {pattern!r} hold no samples")
    names = sorted({c for c, _ in rows.categories.values()}, key=lambda c: (not c.isdigit(), int(c) if c.isdigit()
                                                                            else 0, c))
    return rows.build(f"wds-{Path(members[0][0]).stem}", TarImages(members), image_ids=ids,
                      meta={"source": pattern}, label_names=names)
