"""Experiment drivers (runners, apart from the library): each trains and scores many runs of the library and
returns tidy tables. ``dcmq``: compact codes against FAISS PQ / OPQ at several code lengths and seeds;
``fashion_mnist_scale``: the 70k-pair scale run."""
