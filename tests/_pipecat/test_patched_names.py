"""Every pipecat name voxroute patches exists on the pinned pipecat, and install() applies."""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import version
from pathlib import Path

import pytest

from voxroute._pipecat import PATCHED, install
from voxroute._pipecat.text_folding import FOLDING_MODULES


def test_pipecat_is_the_pinned_version() -> None:
    pins = (Path(__file__).parents[2] / "requirements.lock").read_text()
    assert f"pipecat-ai=={version('pipecat-ai')}" in pins


@pytest.mark.parametrize(("module_name", "dotted"), PATCHED)
def test_every_patched_name_exists_on_the_pinned_pipecat(module_name: str, dotted: str) -> None:
    target: object = importlib.import_module(module_name)
    for part in dotted.split("."):
        assert hasattr(target, part), f"{module_name}.{dotted} is gone: review voxroute._pipecat"
        target = getattr(target, part)


def test_install_switches_on_the_process_wide_patches() -> None:
    install()
    install()  # idempotent
    for module in FOLDING_MODULES:
        assert isinstance(module.alnum_only, functools._lru_cache_wrapper)
