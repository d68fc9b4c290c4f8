"""The test kit's in-process seams give what the real process gives."""

from __future__ import annotations

import pytest

from tests.conftest import member
from trustmesh.core.ledger import Ledger
from trustmesh.testing import InProcessNode, NodeError, invoke_cli, run_cli


def test_the_cli_in_this_process_answers_as_the_command_does(tmp_path):
    Ledger.create(tmp_path / "h", identity=member(1)).close()
    for home, args in ((tmp_path / "h", ("id", "--json")), (tmp_path / "h", ("show", "12ab")),
                       (tmp_path / "nobody", ("records",)), (None, ("no-such-command",))):
        real, here = run_cli(home, *args), invoke_cli(home, *args)
        assert (here.returncode, here.stdout, here.stderr) == (real.returncode, real.stdout, real.stderr), args


def test_an_in_process_node_refuses_a_setting_read_once_per_process(tmp_path):
    with pytest.raises(NodeError, match="NodeProcess"):
        InProcessNode(tmp_path / "n", env={"TRUSTMESH_TEST_CLOCK_OFFSET_MS": "-5000"}).start()
    assert not (tmp_path / "n").exists()
