# AgentJet developer commands. Every target creates the virtual environments it needs.
#   make setup          create/update .venvs/main, .venvs/verl, .venvs/trinity and
#                       .venvs/frameworks (AutoGen, LlamaIndex), then the
#                       test models (tiny model, SmolLM2) in .cache/ (setup-models alone)
#   make test           set up everything, then run each environment's tests (the CI command)
#   make quickstart     set up main and run the quickstart
#   make tutorial-self-correction   the multi-turn tutorial (train + before/after eval)
#   make test-under-load  `make test` from a fresh clone of HEAD with two CPU busy loops running
# Single environments: make setup-main | setup-verl | setup-trinity | setup-frameworks, make
# test-main | test-verl | test-trinity | test-frameworks. Extra pytest arguments:
# make test-main PYTEST_ARGS="-k config -x". AJET_TEST_WORKERS=N: pytest-xdist workers per
# environment (default 2).

SHELL := /bin/bash
PYTEST_ARGS ?=
ENVS := main verl trinity frameworks

.PHONY: setup setup-models test test-under-load quickstart tutorial-self-correction browser env-status clean-venvs help \
	$(addprefix setup-,$(ENVS)) $(addprefix test-,$(ENVS))

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

setup:
	scripts/setup_env.sh all
	scripts/setup_models.sh

setup-models:
	scripts/setup_models.sh

$(addprefix setup-,$(ENVS)): setup-%:
	scripts/setup_env.sh $*

test:
	scripts/test.sh all $(if $(PYTEST_ARGS),-- $(PYTEST_ARGS))

$(addprefix test-,$(ENVS)): test-%:
	scripts/test.sh $* $(if $(PYTEST_ARGS),-- $(PYTEST_ARGS))

test-under-load:
	scripts/test_under_load.sh

quickstart:
	scripts/quickstart.sh

tutorial-self-correction:
	scripts/tutorial_self_correction.sh

browser:
	scripts/install_browser.sh

env-status:
	scripts/setup_env.sh status

clean-venvs:
	rm -rf .venvs
