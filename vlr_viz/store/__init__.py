"""Everything vlr_viz computes once and reads back, seen as one store: list it, check it, clear it.

Each kind of stored thing keeps its own compute-or-read-back code (named below); this package knows where each
lives and how each proves itself sound, so ``vlr-viz store ls | verify | rm`` treat them alike:

=============  ===================================================  ==================================================
kind           where (cache dir, or the run store inside it)         sound when
=============  ===================================================  ==================================================
``arrays``     ``<cache>/<name>-<key>.npy`` (`vlr_viz.cache`):       the SHA-256, shape and dtype of its ``.json``
               teacher features, thumbnails, 2-D layouts              sidecar match
``figures``    ``<cache>/figures/<key>.png`` (`vlr_viz.viz.export`)  it is a whole PNG
``runs``       ``<runs>/<key>/`` (`vlr_viz.train.store`)             every file matches ``manifest.json``
``stage1``     ``<runs>/stage1/<key>/`` (`vlr_viz.train.stage1_store`)  likewise
``dcmq``       ``<runs>/dcmq/<key>/`` (`vlr_viz.train.dcmq.store`)   likewise
``faiss``      ``<runs>/faiss/<name>-<key>.npy`` (FAISS quantisers)  as ``arrays``
``analyses``   ``<runs>/analyses/<kind>/<key>.json``                  it parses and names its own key
               (`vlr_viz.stored_tables`)
``evaluations``  ``<runs>/evaluations/<key>.json`` (`vlr_viz.eval.stored`)  likewise
=============  ===================================================  ==================================================

`entries` lists them (with ``verify=True`` each is checked), `remove` deletes entries of one kind by key, or all of
them, only ever inside that kind's folder. Writes that were cut off (``.tmp``, ``.partial``) are listed as
``unfinished`` and removed with their kind.
"""
from .inventory import KINDS, StoredEntry, entries, remove

__all__ = ["KINDS", "StoredEntry", "entries", "remove"]
