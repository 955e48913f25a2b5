"""Image sources: where a dataset's images live, read one at a time so memory does not grow with the dataset.

A source is an indexable collection: ``len(source)``, ``source.read(i)`` → uint8 RGB ``(H, W, 3)`` at the image's
own size, ``source.subset(indices)`` and ``source.identity()``, a content identity that keys the feature cache:

==================  =========================================  ===============================================
source              images                                     identity (hashed)
==================  =========================================  ===============================================
`ArrayImages`       a uint8 array ``(N, H, W, 3)`` in memory     the array's bytes
`FileImages`        image files under a root folder            relative paths, file sizes, modification times
`TarImages`         members of tar shards (webdataset)         shard paths, sizes, mtimes and member names
==================  =========================================  ===============================================

A degraded source (`vlr_viz.imbalance.degrade_image.DegradedImages`) wraps any of them.
A file-based identity changes when a file is replaced, touched or resized; it does not read the image bytes, so
100k images are keyed in about a second. Every source pickles cheaply (paths, not pixels, except
`ArrayImages`), so `torch.utils.data.DataLoader` worker processes can decode in parallel.
"""
from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataFormatError
from ..keys import content_hash
from .images import decode_image, read_rgb


class ImageSource:
    """Base class: ``len``, ``read(i)``, ``subset(indices)``, ``identity()`` (see the module docstring)."""

    def __len__(self) -> int:
        raise NotImplementedError

    def read(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def subset(self, indices) -> "ImageSource":
        raise NotImplementedError

    def identity(self) -> str:
        raise NotImplementedError

    def name_of(self, i: int) -> str:
        """How error messages name image ``i``."""
        return f"image {i}"

    def check(self) -> None:
        """Raise `DataFormatError` naming the first image that cannot be found (cheap: no decoding)."""

    def to_array(self, size: int | None = None) -> np.ndarray:
        """All images in one uint8 array ``(N, size, size, 3)`` (bicubic resize; ``None``: all must share a size)."""
        from PIL import Image

        arrays = []
        for i in range(len(self)):
            img = self.read(i)
            if size is not None and img.shape[:2] != (size, size):
                img = np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC))
            arrays.append(img)
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"images differ in size {sorted(shapes)}; pass size= to resize them")
        return np.stack(arrays) if arrays else np.zeros((0, size or 0, size or 0, 3), np.uint8)


class ArrayImages(ImageSource):
    """Images held in memory as one uint8 array: RGB ``(N, H, W, 3)``, or greyscale ``(N, H, W)`` (read as RGB)."""

    def __init__(self, array: np.ndarray):
        array = np.asarray(array)
        if array.dtype != np.uint8 or not (array.ndim == 3 or (array.ndim == 4 and array.shape[-1] == 3)):
            raise ValueError(f"images must be a uint8 array (N, H, W, 3) or (N, H, W); got {array.dtype} {array.shape}")
        self.array = array

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def read(self, i: int) -> np.ndarray:
        image = self.array[i]
        return image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)

    def subset(self, indices) -> "ArrayImages":
        return ArrayImages(self.array[np.asarray(indices, dtype=np.int64)])

    def identity(self) -> str:
        return content_hash("images", self.array)

    def to_array(self, size: int | None = None) -> np.ndarray:
        if self.array.ndim == 4 and (size is None or self.array.shape[1:3] == (size, size)):
            return self.array
        return super().to_array(size)


class FileImages(ImageSource):
    """Image files ``root / relative_path`` (any format PIL reads), decoded on `read`."""

    def __init__(self, root, relative_paths: Sequence[str]):
        self.root = Path(root)
        self.paths = list(relative_paths)

    def __len__(self) -> int:
        return len(self.paths)

    def path(self, i: int) -> Path:
        return self.root / self.paths[i]

    def read(self, i: int) -> np.ndarray:
        return read_rgb(self.path(i))

    def name_of(self, i: int) -> str:
        return str(self.path(i))

    def subset(self, indices) -> "FileImages":
        return FileImages(self.root, [self.paths[int(i)] for i in np.asarray(indices, dtype=np.int64)])

    def check(self) -> None:
        for i in range(len(self.paths)):
            if not self.path(i).is_file():
                raise DataFormatError(f"image {self.path(i)} does not exist")

    def identity(self) -> str:
        stats = []
        for i in range(len(self.paths)):
            try:
                st = os.stat(self.path(i))
            except OSError as e:
                raise DataFormatError(f"image {self.path(i)} cannot be read: {e}") from e
            stats.append((st.st_size, st.st_mtime_ns))
        return content_hash("files", self.paths, np.asarray(stats, dtype=np.int64).reshape(-1, 2))


class TarImages(ImageSource):
    """Members of tar files (webdataset shards), each ``(shard path, member name)``; read by seeking to the member.

    A reader keeps one open handle per shard and an index of member offsets, built on first use in each process.
    """

    def __init__(self, members: Sequence[tuple[str, str]]):
        self.members = [(str(s), str(m)) for s, m in members]
        self._handles: dict = {}

    def __getstate__(self):
        return {"members": self.members}

    def __setstate__(self, state):
        self.members, self._handles = state["members"], {}

    def __len__(self) -> int:
        return len(self.members)

    def name_of(self, i: int) -> str:
        shard, member = self.members[i]
        return f"{shard}:{member}"

    def _tar(self, shard: str):
        if shard not in self._handles:
            try:
                tar = tarfile.open(shard, "r")
                self._handles[shard] = (tar, {m.name: m for m in tar.getmembers()})
            except (OSError, tarfile.TarError) as e:
                raise DataFormatError(f"cannot read shard {shard}: {e}") from e
        return self._handles[shard]

    def read(self, i: int) -> np.ndarray:
        shard, member = self.members[i]
        tar, index = self._tar(shard)
        if member not in index:
            raise DataFormatError(f"shard {shard} has no member {member}")
        return decode_image(tar.extractfile(index[member]).read(), self.name_of(i))

    def subset(self, indices) -> "TarImages":
        return TarImages([self.members[int(i)] for i in np.asarray(indices, dtype=np.int64)])

    def identity(self) -> str:
        shards = sorted({s for s, _ in self.members})
        stats = [(os.stat(s).st_size, os.stat(s).st_mtime_ns) for s in shards]
        return content_hash("tar", shards, np.asarray(stats, dtype=np.int64).reshape(-1, 2), self.members)


def image_source(images) -> ImageSource:
    """``images`` as an `ImageSource` (a uint8 array becomes `ArrayImages`)."""
    if isinstance(images, ImageSource):
        return images
    if isinstance(images, np.ndarray):
        return ArrayImages(images)
    raise TypeError(f"images must be a uint8 array (N, H, W, 3) or an ImageSource; got {type(images).__name__}")


class ConcatImages(ImageSource):
    """Several sources one after another (a dataset composed of several files)."""

    def __init__(self, parts: Sequence[ImageSource]):
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _locate(self, i: int) -> tuple[ImageSource, int]:
        part = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return self.parts[part], i - int(self.offsets[part])

    def read(self, i: int) -> np.ndarray:
        source, j = self._locate(i)
        return source.read(j)

    def name_of(self, i: int) -> str:
        source, j = self._locate(i)
        return source.name_of(j)

    def check(self) -> None:
        for p in self.parts:
            p.check()

    def subset(self, indices) -> ImageSource:
        idx = np.asarray(indices, dtype=np.int64)
        part = np.searchsorted(self.offsets, idx, side="right") - 1
        if (np.diff(part) < 0).any():
            return _Reordered(self, idx)
        pieces = [self.parts[p].subset(idx[part == p] - self.offsets[p]) for p in np.unique(part)]
        return pieces[0] if len(pieces) == 1 else ConcatImages(pieces)

    def identity(self) -> str:
        return content_hash("concat", [p.identity() for p in self.parts])


class _Reordered(ImageSource):
    """Items ``indices`` of a source, in that order."""

    def __init__(self, source: ImageSource, indices: np.ndarray):
        self.source, self.indices = source, np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.indices.size)

    def read(self, i: int) -> np.ndarray:
        return self.source.read(int(self.indices[i]))

    def name_of(self, i: int) -> str:
        return self.source.name_of(int(self.indices[i]))

    def check(self) -> None:
        self.source.check()

    def subset(self, indices) -> "_Reordered":
        return _Reordered(self.source, self.indices[np.asarray(indices, dtype=np.int64)])

    def identity(self) -> str:
        return content_hash("reordered", self.source.identity(), self.indices)
