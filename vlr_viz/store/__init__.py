"""Everything vlr_viz computes once and reads back: one store, one API for every kind.

How an entry works, whatever its kind:

- **keyed** by the content hash (`vlr_viz.keys.content_hash`) of everything that determines it: its inputs (arrays
  by their bytes), settings, and a code version that changes whenever the code computes something else
  (`vlr_viz.store.runs.TRAINING_CODE_VERSION`, `vlr_viz.store.evaluations.EVALUATION_CODE_VERSION`, ...);
- **written atomically**: a file is written to a temporary name and renamed into place
  (`vlr_viz.atomic.atomic_write_bytes`); a folder entry is written whole into ``<key>.tmp`` with a manifest of
  every file's size and SHA-256 written last, then renamed (`vlr_viz.store.entry.EntryFolder.put_files`);
- **locked**: two processes computing the same key take ``<key>.lock`` (`vlr_viz.store.entry.entry_lock`); the
  second waits and reads the first one's entry;
- **read back** checked (sidecar checksum, manifest, or the entry naming its own key); a damaged entry is reported
  (`.entry.StoredRunWarning` / `.arrays.CorruptCacheWarning`), removed and computed again;
- **verified, listed, removed** by `entries` / `remove` (``vlr-viz store ls | verify | rm``), only ever inside the
  kind's folder; writes cut off (``.tmp``, ``.partial``) are listed as ``unfinished`` and removed with their kind.

=============  ===================================================  ==================================================
kind           where (cache dir, or the run store inside it)         sound when
=============  ===================================================  ==================================================
``arrays``     ``<cache>/<name>-<key>.npy`` (`.arrays`): teacher     the SHA-256, shape and dtype of its ``.json``
               features (`.array_rows`), thumbnails, 2-D layouts,    sidecar match
               decoded Twemoji images, ROUGE-L relevance
``figures``    ``<cache>/figures/<key>.png`` (`.figures`)            it is a whole PNG
``runs``       ``<runs>/<key>/`` (`.runs`)                           every file matches ``manifest.json``
``stage1``     ``<runs>/stage1/<key>/`` (`.stage1`)                  likewise
``dcmq``       ``<runs>/dcmq/<key>/`` (`.dcmq`)                      likewise
``faiss``      ``<runs>/faiss/<name>-<key>.npy`` (`.faiss`)          as ``arrays``
``analyses``   ``<runs>/analyses/<kind>/<key>.json`` (`.tables`)     it parses and names its own key
``evaluations``  ``<runs>/evaluations/<key>.json`` (`.evaluations`)  likewise
=============  ===================================================  ==================================================

The cache folder is `.locations.default_cache_dir` (``$VLR_VIZ_CACHE``), the run store `.locations.default_store_dir`
(``$VLR_VIZ_RUN_STORE``). The two primitives every kind builds on, content keys (`vlr_viz.keys`) and atomic writes
(`vlr_viz.atomic`), lie below everything, so the training core keys and writes its files without the store. The
data and evaluation code that the training core imports cannot import the store (whose run, stage-1 and DCMQ kinds
import the training core), so it caches arrays only through a ``cache=`` it is given: an `.arrays.ArrayCache`
(``array_cache(folder)``) that the callers above compose in (`vlr_viz.data.load_splits` for the decoded Twemoji
images, `vlr_viz.eval.caption_image_relevance` and `vlr_viz.eval.evaluate` for ROUGE-L relevance). Training through
the store (and sharing stage 1, worker processes) is `vlr_viz.runner`.
"""
from .inventory import KINDS, StoredEntry, entries, remove

__all__ = ["KINDS", "StoredEntry", "entries", "remove"]
