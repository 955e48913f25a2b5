"""Training runs from outside `vlr_viz.train.trainer.fit`: through the store, sharing stage 1, on worker processes,
batched, from the command line.

`vlr_viz.train` is the training core (config, model, methods' loop, history, checkpoints, stage 1); it imports none
of this package. Here: `stored_fit` (a run read back from the run store, `vlr_viz.store.runs`, or trained and
stored), `stage1_sharing` (stage 1 trained once per group of runs), `parallel` (missing runs on every CPU core),
`multi_seed` (runs of one shape trained as one batched model), `run` (`run_training`: a dataset to a run folder) and
``python -m vlr_viz.runner`` (`options`: every `TrainConfig` field as an option).
"""
