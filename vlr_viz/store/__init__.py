"""Everything vlr_viz computes once and reads back: one store, one API for every kind.

How an entry works, whatever its kind:

- **keyed** by the content hash (`vlr_viz.cache.content_hash`) of everything that determines it: its inputs (arrays
  by their bytes), settings, and a code version that changes whenever the code computes something else
  (`vlr_viz.store.runs.TRAINING_CODE_VERSION`, `vlr_viz.store.evaluations.EVALUATION_CODE_VERSION`, ...);
- **written atomically**: a file is written to a temporary name and renamed into place
  (`vlr_viz.cache.atomic_write_bytes`); a folder entry is written whole into ``<key>.tmp`` with a manifest of
  every file's size and SHA-256 written last, then renamed (`vlr_viz.store.entry.EntryFolder.put_files`);
- **locked**: two processes computing the same key take ``<key>.lock`` (`vlr_viz.store.entry.entry_lock`); the
  second waits and reads the first one's entry;
- **read back** checked (sidecar checksum, manifest, or the entry naming its own key); a damaged entry is reported
  (`vlr_viz.cache.StoredRunWarning` / `CorruptCacheWarning`), removed and computed again;
- **verified, listed, removed** by `entries` / `remove` (``vlr-viz store ls | verify | rm``), only ever inside the
  kind's folder; writes cut off (``.tmp``, ``.partial``) are listed as ``unfinished`` and removed with their kind.

=============  ===================================================  ==================================================
kind           where (cache dir, or the run store inside it)         sound when
=============  ===================================================  ==================================================
``arrays``     ``<cache>/<name>-<key>.npy`` (`vlr_viz.cache`):       the SHA-256, shape and dtype of its ``.json``
               teacher features, thumbnails, 2-D layouts              sidecar match
``figures``    ``<cache>/figures/<key>.png`` (`.figures`)            it is a whole PNG
``runs``       ``<runs>/<key>/`` (`.runs`)                           every file matches ``manifest.json``
``stage1``     ``<runs>/stage1/<key>/`` (`.stage1`)                  likewise
``dcmq``       ``<runs>/dcmq/<key>/`` (`.dcmq`)                      likewise
``faiss``      ``<runs>/faiss/<name>-<key>.npy`` (`.faiss`)          as ``arrays``
``analyses``   ``<runs>/analyses/<kind>/<key>.json`` (`.tables`)     it parses and names its own key
``evaluations``  ``<runs>/evaluations/<key>.json`` (`.evaluations`)  likewise
=============  ===================================================  ==================================================

The arrays and the two primitives every kind builds on (content keys, atomic writes) stay in `vlr_viz.cache`: the
training core itself writes checkpoints atomically, and the data and evaluation code it imports cache arrays
(decoded Twemoji images, ROUGE-L relevance), while the run, stage-1 and DCMQ kinds here import the training core.
Training through the store (and sharing stage 1, worker processes) is `vlr_viz.runner`.
"""
from .inventory import KINDS, StoredEntry, entries, remove

__all__ = ["KINDS", "StoredEntry", "entries", "remove"]
