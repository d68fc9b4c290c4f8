"""Fuzzing in CI: every decoder a peer or a caller reaches lets out only our typed errors.

A short, seeded run of the kit in ``trustmesh/testing/fuzzing.py`` (the long
one is ``bench/fuzz.py``), plus the two places where the decoders meet real
parts: mutated records offered to a real SQLite store (nothing invalid is
written), and mutated bodies posted to a real node's API (never a 500).
"""

from __future__ import annotations

import json
import random

import pytest

from trustmesh.protocol.records import decode
from trustmesh.protocol.validate import check_record
from trustmesh.store import Store
from trustmesh.testing import NodeProcess
from trustmesh.testing.fuzzing import TARGETS, api_seeds, cases, mutate, run_case, seed_records, seeds


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_the_seeds_are_valid_input(target):
    """The seeds are what honest peers send: a target must take them without any error."""
    for data in seeds()[{"stored": "record"}.get(target, target)]:
        TARGETS[target](data)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_mutated_input_gives_only_our_errors(target):
    failures = [f for f in (run_case(t, d) for t, d in cases(seed=11, n=400, targets=[target])) if f]
    assert not failures, failures[0].describe()


def test_the_mutators_reach_past_the_first_check():
    """A fuzzer whose inputs all die at the first byte proves nothing: some must decode."""
    decoded = 0
    for _, data in cases(seed=3, n=2000, targets=["record"]):
        try:
            decode(data, allow_proposal=True)
            decoded += 1
        except Exception:
            pass
    assert 20 < decoded < 1900, decoded


def test_a_store_fed_mutated_records_holds_only_valid_ones(tmp_path):
    rng = random.Random(5)
    good = seed_records()
    raws = [mutate(rng, rng.choice(good), rng.choice(good)) for _ in range(3000)] + good
    now = 1_760_000_100_000
    with Store.open(tmp_path / "store.sqlite") as store:
        results = store.ingest(raws, now)
        assert len(results) == len(raws)
        accepted = {r.id for r in results if r.status == "accepted"}
        assert {r.id for r in results[-len(good):]} <= accepted | {r.id for r in results if r.status == "duplicate"}
        held = store.all_ids()
        assert set(held) == accepted
        for rid in held:
            check_record(decode(store.get(rid).raw, allow_proposal=True), now)
        assert store.integrity_check() == "ok"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = NodeProcess(tmp_path_factory.mktemp("fuzz") / "a").start()
    yield n
    n.stop()


ROUTES = {"attest": ("POST", "/v1/attestations"), "retract": ("POST", "/v1/retractions"),
          "reply": ("POST", "/v1/replies"), "profile": ("PUT", "/v1/profile"),
          "propose": ("POST", "/v1/deals"), "ask": ("POST", "/v1/ask"), "connect": ("POST", "/v1/peers"),
          "key_rotate": ("POST", "/v1/keys/rotate"), "key_recover": ("POST", "/v1/keys/recover"),
          "device_add": ("POST", "/v1/devices"), "device_accept": ("POST", "/v1/devices/accept"),
          "device_revoke": ("POST", "/v1/devices/revoke"), "device_code": ("POST", "/v1/devices/codes"),
          "device_join": ("POST", "/v1/devices/join")}


def test_mutated_bodies_never_get_a_500(node):
    rng = random.Random(9)
    statuses: dict[int, int] = {}
    for route, bodies in api_seeds().items():
        method, path = ROUTES[route]
        for _ in range(25):
            seed = json.dumps(rng.choice(bodies)).encode()
            body = mutate(rng, seed, seed, f"api-{route}")
            reply = node._http.request(method, path, content=body, headers={"content-type": "application/json"})
            statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
            assert reply.status_code < 500 or reply.status_code in (502, 503), (route, body[:300], reply.text)
            assert "type" in reply.json() or reply.status_code == 200, reply.text
    assert statuses.get(400, 0) > 60, statuses
    assert node.proc.poll() is None
    assert "Traceback" not in node.log_tail(200)


GETS = ["/v1/records", "/v1/rank", "/v1/members", "/v1/graph", "/v1/trust/{x}", "/v1/weights/{x}", "/v1/keys/{x}",
        "/v1/records/{x}"]
ODD = ["", "-1", "2" * 40, "nan", "1e9", "%00", "\u202e", "zz", "ab" * 40, "0x10", "[]", "a" * 5000]


def test_odd_query_strings_and_path_values_never_get_a_500(node):
    rng = random.Random(4)
    for _ in range(150):
        path = rng.choice(GETS).replace("{x}", rng.choice(ODD) or "x")
        params = {k: rng.choice(ODD) for k in rng.sample(["limit", "offset", "facet", "subject", "author",
                                                          "kind", "explain", "since"], rng.randrange(4))}
        reply = node._http.get(path, params=params)
        assert reply.status_code < 500, (path, params, reply.status_code, reply.text[:300])


def test_mutated_bundles_posted_to_import_never_get_a_500(node):
    rng = random.Random(6)
    bundle = seeds()["bundle"][0]
    for _ in range(30):
        body = mutate(rng, bundle, bundle, "bundle")
        reply = node._http.post("/v1/import", content=body)
        assert reply.status_code < 500, (body.hex(), reply.status_code, reply.text[:300])
    assert node.proc.poll() is None
