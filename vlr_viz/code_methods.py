"""The methods of the compact-codes comparison (DCMQ against FAISS, notebook 06), named once for the experiment, its
figures and the report's headline table; nothing here imports torch, so the report process stays light."""
from __future__ import annotations

LABELS = {"dcmq": "DCMQ (teacher-distilled)", "labels": "label-supervised codes", "faiss_pq": "FAISS PQ",
          "faiss_opq": "FAISS OPQ", "float": "float teacher"}
"""The methods of the compact-codes experiment (`vlr_viz.experiments.dcmq`), in display order, with their labels."""
SUPERVISION_METHOD = {"teacher": "dcmq", "labels": "labels"}
"""The method name of the learned codes of each supervision (`vlr_viz.train.dcmq.DCMQConfig.supervision`)."""
