# Two commands on a fresh machine:  `make serve` (the API + a worker on tiny weights)
# and `make test`. Everything else is a step they depend on.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
PYTEST_ARGS ?= -n 2 -q

.PHONY: install tools serve edit-demo test lint generate bench-api bench-engine clean

# torch 2.13.0 first: it is the local CPU build; any other torch requirement would make
# pip download the multi-GB CUDA packages. Then the project, whose `torch>=2.13` is met.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[server,dev]"
	touch $@

install: $(VENV)/.installed

# checkov (tests/deploy/test_lint.py) in its own environment: its pinned dependencies
# conflict with the project's. Pinned itself, so that new checks arrive by choice.
CHECKOV := .tools/checkov/bin/checkov
$(CHECKOV):
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30

tools: $(CHECKOV)

# No flags: every PIXELRUN_* setting applies (`PIXELRUN_PORT=8001 make serve`); the
# weights default to tiny.
serve: install
	$(BIN)/pixelrun serve

edit-demo: install
	$(BIN)/python -c "from PIL import Image; Image.new('RGB', (320, 240), (40, 120, 200)).save('demo-in.png')"
	$(BIN)/pixelrun edit --weights tiny --image demo-in.png --prompt "make the sky orange" --size 256x256 --steps 8 -o demo-out.png

test: install tools
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench examples scripts
	$(BIN)/ruff format --check src tests bench examples scripts
	$(BIN)/python scripts/unasync.py --check

# The sync SDK client (client/_sync.py) is generated from the async one (client/_async.py).
generate: install
	$(BIN)/python scripts/unasync.py

bench-api: install
	$(BIN)/python bench/api_throughput.py

bench-engine: install
	$(BIN)/python bench/gpu_engine.py --scale tiny

clean:
	rm -rf $(VENV) .tools .pixelrun build *.egg-info
