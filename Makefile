# The two commands a newcomer needs: `make demo` and `make test` (both set up what is missing).
SHELL := /bin/bash
VENV := .venv
PORT ?= 8080
HUB_PORT ?= 8090
FUZZ_S ?= 600

.PHONY: demo test setup setup-test lint format hardware-test fuzz image image-test bundle update-test powercut clean

# The sim kiosk on 127.0.0.1:$(PORT) and, beside it, a local office hub on 127.0.0.1:$(HUB_PORT).
demo: setup
	@scripts/demo.sh $(PORT) $(HUB_PORT)

test: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q tests hardware-tests

setup:
	@scripts/setup.sh demo

setup-test:
	@scripts/setup.sh test

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .

# Hypothesis over every parser of outside input for FUZZ_S seconds (not part of `make test`);
# the result (inputs and crashes per parser) goes to benchmarks/fuzz-<date>.json.
fuzz: setup-test
	$(VENV)/bin/python tools/fuzz.py --seconds $(FUZZ_S) --record benchmarks

hardware-test: setup-test
	$(VENV)/bin/python -m pytest -v hardware-tests

# The SD image (root needed: mmdebstrap, binfmt_misc) and its QEMU boot test; docs/field-technician.md.
image: setup
	image-build/build.sh

image-test: image
	image-build/boot-test.sh

# A signed RAUC bundle of the image's root (UPDATE_KEY/UPDATE_CERT, VERSION): docs/updates.md.
bundle:
	image-build/bundle.sh

# A/B update under QEMU (GRUB on AAVMF): install, trial boot, rollback, refusals, power cut.
update-test:
	image-build/update-test.sh

# Real power cuts under QEMU (the image's kernel, the store writing to a cache=none disk, QEMU
# killed at random moments), POWERCUT_CYCLES of them, after `make image`: docs/powercut.md.
POWERCUT_CYCLES ?= 30
powercut: setup-test
	POWERCUT_CYCLES=$(POWERCUT_CYCLES) image-build/powercut.sh

clean:
	rm -rf .state .pytest_cache test-artifacts
