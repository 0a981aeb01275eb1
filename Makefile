# 村级医保服务站 — the two commands: `make run` (demo data, GUI) and `make test` (whole suite).
# Both set everything up on a fresh machine: system libraries (apt-get, when missing and
# possible), the virtualenv in .venv, the project with its extras, a small demo database.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB ?= .local/demo.db
DEMO_RESIDENTS ?= 3000
DEMO_VILLAGES ?= 3
export QT_QPA_PLATFORM ?= offscreen
PYTEST_ARGS ?=

# Shared libraries Qt needs even offscreen, the PDF tools the notice tests use, the offline
# speech synthesizer the loudspeaker audio uses on Linux (pyttsx3 uses SAPI5 on Windows), and
# the browser the county console's tests drive (Debian's chromium: Playwright never downloads one).
SYSTEM_LIBS := libEGL.so.1:libegl1 libxkbcommon.so.0:libxkbcommon0 libfontconfig.so.1:libfontconfig1 \
               libglib-2.0.so.0:libglib2.0-0 libdbus-1.so.3:libdbus-1-3 libGL.so.1:libgl1 \
               libxkbcommon-x11.so.0:libxkbcommon-x11-0 libxcb-cursor.so.0:libxcb-cursor0
SYSTEM_TOOLS := pdftotext:poppler-utils pdffonts:poppler-utils espeak-ng:espeak-ng chromium:chromium

.PHONY: run test sysdeps venv demo bench clean help

help:
	@echo "make run   — 生成演示数据库（如没有）并打开程序"
	@echo "make test  — 安装依赖并运行全部测试"
	@echo "make bench — 运行性能基准，结果写入 bench/RESULTS.md"

sysdeps:
	@missing=""; \
	for pair in $(SYSTEM_LIBS); do lib=$${pair%%:*}; pkg=$${pair##*:}; \
	  ldconfig -p 2>/dev/null | grep -q "$$lib" || missing="$$missing $$pkg"; done; \
	for pair in $(SYSTEM_TOOLS); do tool=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$$(echo $$missing | tr -d ' ')" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" = none ]; then echo "warning: cannot install$$missing (not root)"; \
	  else ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing) \
	       || echo "warning: apt-get could not install$$missing"; fi; \
	fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,server]'
	touch $(STAMP)

venv: $(STAMP)

$(DEMO_DB): | $(STAMP)
	mkdir -p $(dir $(DEMO_DB))
	$(BIN)/station-app demo --db $(DEMO_DB) --villages $(DEMO_VILLAGES) --residents $(DEMO_RESIDENTS) --seed 1

demo: $(DEMO_DB)

run: sysdeps $(STAMP) $(DEMO_DB)
	env -u QT_QPA_PLATFORM $(BIN)/station-app --db $(DEMO_DB)

test: sysdeps $(STAMP) $(DEMO_DB)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .local build dist .pytest_cache
