"""The command line's shared behaviour: one-line usage errors with exit 2, single-valued
options given once, third-party warnings kept quiet unless -v."""

from __future__ import annotations

import warnings

import pytest

from attnsim.cli.main import main


def test_a_repeated_single_valued_option_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--hw", "h100-sxm5-80gb", "--hw", "b200", "--workload", "w.json"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "argument --hw: given twice ('h100-sxm5-80gb' and 'b200'); expected it once" in err[0]


def test_third_party_warnings_are_kept_quiet_unless_verbose(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with warnings.catch_warnings():
        main(["hw", "list"])
        warnings.warn("from a third party", FutureWarning, stacklevel=1)
    assert "from a third party" not in capsys.readouterr().err
