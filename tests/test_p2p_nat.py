"""Nodes behind real NATs: network namespaces, veth pairs and nftables masquerade (trustmesh/testing/natlab.py).

Root only (CI runs as root); skipped with the reason otherwise. Every
namespace, veth and process is removed at the end, also on failure, and
every wait polls a condition with a deadline.
"""

from __future__ import annotations

import pytest

from trustmesh.testing import natlab


@pytest.fixture
def make_lab():
    """``make_lab(("eim", "symmetric"))``: a built lab, always torn down whole."""
    why = natlab.missing()
    if why:
        pytest.skip(why)
    labs = []

    def make(nats=("eim", "eim")):
        lab = natlab.NatLab(nats)
        labs.append(lab)
        lab.build()
        return lab
    try:
        yield make
    finally:
        for lab in labs:
            lab.close()
            assert natlab.leftovers(lab.prefix) == []


def test_a_home_reaches_the_public_side_and_nothing_reaches_a_home(make_lab):
    lab = make_lab(("eim", "symmetric"))
    public = lab.listener("pub", 5000)
    home = lab.listener("h1", 5001)
    try:
        assert lab.can_connect("h1", natlab.PUBLIC_IP, 5000)
        assert lab.can_connect("h2", natlab.PUBLIC_IP, 5000)
        assert not lab.can_connect("pub", lab.home_ip(1), 5001, timeout=0.5)    # no route to a home
        assert not lab.can_connect("pub", lab.wan_ip(1), 5001, timeout=0.5)     # the router drops it
        assert not lab.can_connect("h2", lab.wan_ip(1), 5001, timeout=0.5)
    finally:
        public.kill()
        home.kill()
