# The two entry points a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := docker-registry skopeo umoci apache2-utils debootstrap podman pigz
APT_TOOLS := /usr/bin/docker-registry /usr/bin/skopeo /usr/bin/umoci /usr/bin/htpasswd /usr/sbin/debootstrap /usr/bin/podman /usr/bin/pigz

.PHONY: test demo lint typecheck pytest bench system-deps clean

$(BIN)/ocipush: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Debian packages the integration tests drive (a real registry and real clients).
system-deps:
	@missing=""; for t in $(APT_TOOLS); do [ -x $$t ] || missing=yes; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

PY_DIRS := $(wildcard src tests benchmarks examples)

lint: $(BIN)/ocipush
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)

typecheck: $(BIN)/ocipush
	$(BIN)/mypy --strict src

pytest: $(BIN)/ocipush system-deps
	$(BIN)/pytest

test: lint typecheck pytest

demo: $(BIN)/ocipush system-deps
	$(BIN)/python examples/demo.py

bench: $(BIN)/ocipush system-deps
	$(BIN)/python benchmarks/push.py --repeat 3

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
