"""The pure bundle verifier: the store's checks, without a store."""

import pytest

from tests.conftest import NOW, member
from trustmesh.errors import DecodeError
from trustmesh.protocol.bundle import bundle_chunks, read_bundle
from trustmesh.protocol.records import (
    Attestation, Deal, Reply, Retraction, countersign, encode, record_id, sign,
)
from trustmesh.protocol.verify import DUPLICATE, INVALID, VALID, BundleVerifier, verify_records

ALICE, BOB, CAROL = member(1), member(2), member(3)


class Chain:
    """Signs records for one author with consecutive chain positions."""

    def __init__(self, identity):
        self.identity, self.seq, self.prev = identity, 0, None

    def make(self, cls, *fields, issued=NOW):
        self.seq += 1
        record = sign(cls(self.identity.public_key, self.seq, self.prev, issued, *fields), self.identity)
        raw = encode(record)
        self.prev = record_id(raw)
        return raw


def attestation(chain, subject, facet="payment", positive=True, deal=None, issued=NOW):
    return chain.make(Attestation, subject.public_key, facet, positive, None, deal, issued, None, None,
                      issued=issued)


def statuses(verifier):
    return [v.status for v in verifier.finish()]


def test_a_good_bundle_verifies_record_by_record():
    a, b = Chain(ALICE), Chain(BOB)
    claim = attestation(a, BOB)
    raws = [claim, b.make(Reply, record_id(claim), "acknowledge", "thanks"), attestation(a, CAROL, "quality")]
    verifier = verify_records(read_bundle(bundle_chunks(raws)), NOW)
    assert statuses(verifier) == [VALID] * 3
    assert [v.position for v in verifier.verdicts] == [1, 2, 3]
    assert [v.id for v in verifier.verdicts] == [record_id(r) for r in raws]
    assert verifier.forks == [] and verifier.unresolved == 0


def test_forged_garbage_and_repeated_records_are_told_apart():
    a = Chain(ALICE)
    good = [attestation(a, BOB), attestation(a, CAROL)]
    forged = bytearray(good[0]); forged[-1] ^= 1
    verifier = verify_records([good[0], bytes(forged), b"\x93\x01junk", good[1], good[0]], NOW)
    assert statuses(verifier) == [VALID, INVALID, INVALID, VALID, DUPLICATE]
    assert "signature" in verifier.verdicts[1].reason
    assert verifier.verdicts[2].record is None and verifier.verdicts[2].reason


def test_future_records_and_bare_proposals_are_invalid():
    a = Chain(ALICE)
    future = attestation(a, BOB, issued=NOW + 10 * 60 * 1000)
    proposal = encode(sign(Deal(ALICE.public_key, BOB.public_key, "client", b"r" * 32, None, NOW), ALICE))
    verifier = verify_records([future, proposal], NOW)
    assert statuses(verifier) == [INVALID, INVALID]
    assert "future" in verifier.verdicts[0].reason
    assert "counter" in verifier.verdicts[1].reason


def test_links_are_checked_when_the_target_is_in_the_bundle_before_or_after():
    a, c = Chain(ALICE), Chain(CAROL)
    claim = attestation(a, BOB)
    wrong_retraction = c.make(Retraction, record_id(claim), None)     # Carol retracts Alice's record
    wrong_reply = c.make(Reply, record_id(claim), "contest", None)    # Carol is not the subject
    # reply first, target after: resolved when the target arrives
    verifier = verify_records([wrong_reply, claim, wrong_retraction], NOW)
    assert statuses(verifier) == [INVALID, VALID, INVALID]
    assert "only the subject" in verifier.verdicts[0].reason
    assert "only the author" in verifier.verdicts[2].reason


def test_a_link_to_a_record_outside_the_bundle_stays_unresolved():
    a = Chain(ALICE)
    verifier = verify_records([a.make(Retraction, b"\x07" * 32, "gone")], NOW)
    assert statuses(verifier) == [VALID]
    assert verifier.unresolved == 1


def test_deal_backed_attestations_need_a_deal_between_the_two():
    deal = countersign(sign(Deal(ALICE.public_key, BOB.public_key, "client", b"r" * 32, None, NOW), ALICE), BOB)
    deal_raw = encode(deal)
    a = Chain(ALICE)
    backed = attestation(a, BOB, "delivery", deal=record_id(deal_raw))
    misused = attestation(a, CAROL, "delivery", deal=record_id(deal_raw))
    verifier = verify_records([deal_raw, backed, misused], NOW)
    assert statuses(verifier) == [VALID, VALID, INVALID]
    assert "not between" in verifier.verdicts[2].reason


def test_two_histories_from_one_author_are_reported_as_forks():
    a1, a2 = Chain(ALICE), Chain(ALICE)
    first = attestation(a1, BOB)
    other = attestation(a2, CAROL)                    # seq 1 again, different content
    second = attestation(a1, BOB, "quality")          # seq 2 linked to `first`
    verifier = verify_records([first, other, second], NOW)
    assert statuses(verifier) == [VALID] * 3
    assert [(f.author, f.seq, {f.id_a, f.id_b}) for f in verifier.forks] == [
        (ALICE.public_key, 1, {record_id(first), record_id(other)})]

    lone = Chain(ALICE)
    lone.make(Attestation, BOB.public_key, "payment", True, None, None, NOW, None, None)
    lone.prev = b"\x09" * 32                          # seq 2 claims a prev that is not seq 1
    broken = attestation(lone, BOB, "quality")
    verifier = verify_records([first, broken], NOW)
    assert [(f.seq, {f.id_a, f.id_b}) for f in verifier.forks] == [(1, {record_id(first), record_id(broken)})]


def test_a_damaged_bundle_keeps_the_verdicts_made_before_the_damage():
    a = Chain(ALICE)
    data = b"".join(bundle_chunks([attestation(a, BOB), attestation(a, CAROL)]))
    verifier = BundleVerifier(NOW)
    with pytest.raises(DecodeError, match="inside a frame"):
        for raw in read_bundle([data[:-10]]):
            verifier.add(raw)
    assert statuses(verifier) == [VALID]
