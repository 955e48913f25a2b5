"""Experiment drivers, apart from the library: each trains and scores many runs and returns tidy tables.

``study``                the building blocks of the notebooks' studies: splits of a condition, runs through the run
                         store, evaluation, severity sweeps, method comparisons
``study_analysis``       the analyses of notebook 04: paired statistics per cell, λ sweeps, the modality gap
``dcmq``                 compact codes against FAISS PQ / OPQ at several code lengths and seeds (notebook 06)
``fashion_mnist_scale``  the 70,000-pair scale run (``make scale``)
"""
