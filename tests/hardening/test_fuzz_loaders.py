"""Fuzzed input: thousands of malformed files in every layout; each loads into a valid data set or is refused
with a DataError that has a message, never another exception. Zip archives never write outside their target.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given
from malformed import CASES, Case
from outcomes import expect_dataset_or_data_error, fuzz_settings, nothing_escaped

CASES_PER_FORMAT = 300  # fixed seeds in CI; HYPOTHESIS_PROFILE=thorough runs ten times as many, new ones
TEXT_FORMATS = [name for name in CASES if name != "zip"]


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_every_malformed_file_loads_cleanly_or_is_refused_with_a_message(fmt: str, sandbox: Path):
    @fuzz_settings(CASES_PER_FORMAT)
    @given(case=CASES[fmt]())
    def run(case: Case) -> None:
        expect_dataset_or_data_error(case, sandbox / "cases", "loader", fmt)

    run()


def test_every_malformed_archive_loads_cleanly_or_is_refused_and_writes_nothing_outside(
    sandbox: Path, isolated_cache: Path
):
    @fuzz_settings(CASES_PER_FORMAT)
    @given(case=CASES["zip"]())
    def run(case: Case) -> None:
        try:
            expect_dataset_or_data_error(case, sandbox / "cases", "loader", "zip")
        finally:
            shutil.rmtree(isolated_cache / "unzipped", ignore_errors=True)
        nothing_escaped(sandbox)

    run()
