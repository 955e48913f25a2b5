# vlr_viz: `make demo` runs the main job (the full report), `make test` the tests; both create .venv first when it
# is missing. A report writes only into its own folder (reports/latest, figures in reports/latest/figures); the
# committed PNGs in figures/ change only with `make figures`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: venv lab-settings demo test test-fast bench features report report-fast figures explore scale openclipart-data \
	clean-cache

LAB_SETTINGS := vlr_viz/notebook/lab_settings/vlr_viz.json
PREFIX       ?= $(VENV)

# an editable install leaves out pyproject's data-files: JupyterLab's settings for this environment are copied here
$(STAMP): pyproject.toml $(LAB_SETTINGS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(MAKE) --no-print-directory lab-settings PREFIX=$(VENV)
	touch $(STAMP)

# JupyterLab saves widget state with a notebook (docs/clients.md), in the environment at PREFIX (default .venv;
# a conda environment: make lab-settings PREFIX=$$CONDA_PREFIX)
lab-settings:
	install -D -m 644 $(LAB_SETTINGS) $(PREFIX)/share/jupyter/lab/settings/overrides.d/vlr_viz.json

venv: $(STAMP)

demo: $(STAMP) openclipart-data
	$(BIN)/vlr-viz report --preset full

# the tests run on every core (pytest-xdist), each test file on one worker so that its fixtures run once; the
# slowest tests are listed at the end
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not notebooks and not browser"

# every benchmark, its output written to docs/benchmarks.md with the date, the CPU and the load
bench: $(STAMP)
	$(BIN)/python benchmarks/write_report.py --out docs/benchmarks.md

features: $(STAMP)
	$(BIN)/vlr-viz features

# The scale run on 70,000 real Fashion-MNIST images (Debian's dataset-fashion-mnist; installed here when missing).
scale: $(STAMP)
	test -d /usr/share/datasets/fashion-mnist || apt-get install -y -qq dataset-fashion-mnist \
		|| (echo "install Debian's dataset-fashion-mnist, or run: $(BIN)/python -m vlr_viz.experiments.fashion_mnist_scale --dataset fashion-mnist:DIR"; exit 1)
	$(BIN)/python -m vlr_viz.experiments.fashion_mnist_scale --out reports/scale

# OpenClipArt 0.18 drawings for --dataset openclipart and notebook 01's side-by-side comparison in the full report
# (Debian's openclipart-png and openclipart-svg; installed here when missing).
openclipart-data:
	test -d /usr/share/openclipart/png && test -d /usr/share/openclipart/svg \
		|| apt-get install -y -qq openclipart-png openclipart-svg \
		|| (echo "install Debian's openclipart-png and openclipart-svg, or use --dataset openclipart:PNG_ROOT:SVG_ROOT (the report without them: -p compare_datasets '[\"twemoji\"]')"; exit 1)

clean-cache:
	rm -rf data/cache

report: demo

report-fast: $(STAMP)
	$(BIN)/vlr-viz report --preset fast

# the full report, then its PNGs copied over the committed figures/ (the README's); refused for any other preset
figures: $(STAMP) openclipart-data
	$(BIN)/vlr-viz report --preset full --update-figures

# notebook 05's imbalance explorer as a web page (Voilà); prints its address, Ctrl-C stops it
explore: $(STAMP)
	$(BIN)/vlr-viz explore
