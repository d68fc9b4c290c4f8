"""The key-event rules (protocol.keystate, keyevents): pure, no node, no clock."""

from __future__ import annotations

import dataclasses
import random

import pytest

from trustmesh.crypto.keys import Identity
from trustmesh.errors import DecodeError, InvalidRecord
from trustmesh.protocol import keyevents
from trustmesh.protocol.keystate import MAX_DEVICES, members_of, plain, resolve
from trustmesh.protocol.records import KeyEvent, decode, encode, record_id, sign, signatures_valid
from trustmesh.protocol.validate import check_record

T0 = 1_780_000_000_000
DAY = 86_400_000


class Member:
    """A member as its owner holds it: the first key, the offline successor, devices."""

    def __init__(self) -> None:
        self.first = Identity.generate()
        self.controller = self.first
        self.successor = Identity.generate()
        self.events: list[KeyEvent] = []

    @property
    def id(self) -> bytes:
        return self.first.public_key

    def pairs(self, events=None):
        return [(record_id(encode(e)), e) for e in (self.events if events is None else events)]

    def state(self, events=None):
        return resolve(self.id, self.pairs(events))

    def publish(self, event: KeyEvent) -> KeyEvent:
        check_record(event, event.issued)          # its own rules, signatures included
        self.events.append(event)
        return event

    def incept(self, t=T0):
        return self.publish(keyevents.incept(self.first, self.successor.public_key, t))

    def rotate(self, t, **kw):
        nxt = Identity.generate()
        event = self.publish(keyevents.rotate(self.state(), self.successor, nxt.public_key, t, **kw))
        self.controller, self.successor = self.successor, nxt
        return event

    def add(self, device: Identity, t):
        event = keyevents.add_device(self.state(), self.controller, device.public_key, t)
        return self.publish(keyevents.consent(event, device))

    def revoke(self, device: Identity, since, t):
        return self.publish(keyevents.revoke(self.state(), self.controller, device.public_key, since, t))


def test_a_member_without_key_events_is_its_first_key_for_ever():
    m = Member()
    state = m.state()
    assert state == plain(m.id) and state.controller == m.id and not state.disputed
    assert state.acts_for(m.id, T0 * 5) and not state.acts_for(Identity.generate().public_key, T0)


def test_a_rotation_hands_over_and_voids_the_old_key_from_its_date():
    m = Member()
    m.incept()
    old, new = m.first.public_key, m.successor.public_key
    m.rotate(T0 + DAY)
    state = m.state()
    assert state.controller == new and state.tip_seq == 1 and state.established == 1
    assert state.acts_for(old, T0 + DAY - 1) and not state.acts_for(old, T0 + DAY)
    assert state.acts_for(new, T0 + 10 * DAY)
    m.rotate(T0 + 2 * DAY, since=T0 + DAY + 5)      # a second rotation, with an earlier since
    state = m.state()
    assert state.acts_for(new, T0 + DAY + 4) and not state.acts_for(new, T0 + DAY + 5)


def test_a_stolen_current_key_cannot_rotate_the_member_away():
    m = Member()
    m.incept()
    thief_key = Identity.generate()
    # the thief holds the current (first) key, not the committed successor
    forged = sign(KeyEvent(author=thief_key.public_key, member=m.id, seq=1, prev=m.state().tip,
                           issued=T0 + 1, kind="rotate", key=thief_key.public_key,
                           next=b"\0" * 32, since=None), thief_key)
    check_record(forged, T0 + 1)            # well-formed on its own: only the chain rule refuses it
    state = m.state(m.events + [forged])
    assert state.controller == m.id and state.tip_seq == 0 and not state.disputed
    with pytest.raises(InvalidRecord, match="not the successor"):
        keyevents.rotate(m.state(), thief_key, thief_key.public_key, T0 + 1)


def test_the_owner_recovers_by_rotating_from_its_last_own_event_and_the_thiefs_events_are_void():
    m = Member()
    m.incept()
    own = m.add(Identity.generate(), T0 + 1)
    thief_device = Identity.generate()
    m.add(thief_device, T0 + 2)             # made with the stolen current key
    assert m.state().acts_for(thief_device.public_key, T0 + 3)
    m.controller = m.first
    m.rotate(T0 + 3, after=record_id(encode(own)))
    state = m.state()
    assert state.controller == m.controller.public_key and not state.disputed
    assert thief_device.public_key not in state.windows and not state.acts_for(m.first.public_key, T0 + 3)
    # whatever the order the events arrive in, every viewer reads the same
    for seed in range(5):
        shuffled = m.events[:]
        random.Random(seed).shuffle(shuffled)
        again = m.state(shuffled)
        assert (again.followed, again.controller, set(again.windows)) == (state.followed, state.controller, set(state.windows))


def test_two_interactions_at_one_position_are_a_fork_and_the_member_reads_disputed():
    m = Member()
    m.incept()
    base = m.state()
    a = keyevents.consent(keyevents.add_device(base, m.first, (d1 := Identity.generate()).public_key, T0 + 1), d1)
    b = keyevents.consent(keyevents.add_device(base, m.first, (d2 := Identity.generate()).public_key, T0 + 1), d2)
    state = m.state(m.events + [a, b])
    assert state.disputed and state.tip_seq == 0
    assert state.forks == [(1, tuple(sorted(record_id(encode(e)) for e in (a, b))))]
    assert not state.acts_for(d1.public_key, T0 + 2) and not state.acts_for(d2.public_key, T0 + 2)


def test_two_inceptions_or_two_rotations_revealing_one_successor_are_forks():
    m = Member()
    m.incept()
    other = keyevents.incept(m.first, Identity.generate().public_key, T0 + 5)
    assert m.state(m.events + [other]).disputed
    r1 = keyevents.rotate(m.state(), m.successor, Identity.generate().public_key, T0 + 1)
    r2 = keyevents.rotate(m.state(), m.successor, Identity.generate().public_key, T0 + 2)
    state = m.state(m.events + [r1, r2])
    assert state.disputed and state.controller == m.id
    # and one far down the chain: the successor was used twice
    m.publish(r1)
    d = Identity.generate()
    add = keyevents.consent(keyevents.add_device(m.state(), m.successor, d.public_key, T0 + 3), d)
    late = dataclasses.replace(r2, seq=2, prev=record_id(encode(add)))
    late = sign(late, m.successor)
    assert m.state(m.events + [add, late]).disputed


def test_a_device_acts_for_the_member_until_its_revocation_date():
    m = Member()
    m.incept()
    laptop, phone = Identity.generate(), Identity.generate()
    m.add(laptop, T0 + 1)
    m.add(phone, T0 + 2)
    m.revoke(laptop, since=T0 + DAY, t=T0 + 2 * DAY)
    state = m.state()
    assert state.acts_for(laptop.public_key, T0 + DAY - 1) and not state.acts_for(laptop.public_key, T0 + DAY)
    assert state.acts_for(phone.public_key, T0 + 3 * DAY)
    assert [w.key for w in state.active_devices()] == [phone.public_key]
    with pytest.raises(InvalidRecord, match="does not act for the member now"):
        keyevents.revoke(state, m.first, laptop.public_key, T0, T0 + 3 * DAY)
    assert members_of([state]) == {laptop.public_key: m.id, phone.public_key: m.id}


def test_a_device_add_needs_the_devices_own_signature():
    m = Member()
    m.incept()
    device = Identity.generate()
    unsigned = keyevents.add_device(m.state(), m.first, device.public_key, T0 + 1)
    with pytest.raises(DecodeError, match="key_sig"):
        decode(encode(unsigned))
    wrong = dataclasses.replace(unsigned, key_sig=Identity.generate().sign(b"x"))
    assert decode(encode(wrong)) == wrong and not signatures_valid(wrong)
    with pytest.raises(InvalidRecord, match="does not add this device"):
        keyevents.consent(unsigned, Identity.generate())


def test_only_keys_acting_now_sign_interactions():
    m = Member()
    m.incept()
    m.rotate(T0 + 1)
    stale = Identity.generate()
    # the first key, rotated out, signs a device add: the chain does not follow it
    add = keyevents.consent(dataclasses.replace(
        sign(KeyEvent(author=m.first.public_key, member=m.id, seq=2, prev=m.state().tip, issued=T0 + 2,
                      kind="add", key=stale.public_key, next=None, since=None), m.first)), stale)
    assert stale.public_key not in m.state(m.events + [add]).windows
    with pytest.raises(InvalidRecord, match="acts for the member now"):
        keyevents.add_device(m.state(), m.first, stale.public_key, T0 + 2)


def test_the_phone_revokes_the_lost_laptop_that_held_the_first_key_and_the_owner_ends_a_fight_by_rotating():
    m = Member()
    m.incept()
    phone = Identity.generate()
    m.add(phone, T0 + 1)
    m.controller = phone                    # the laptop (first key) is lost: the phone signs
    m.revoke(m.first, since=T0 + DAY, t=T0 + 2 * DAY)
    state = m.state()
    assert state.controller is None and not state.acts_for(m.id, T0 + DAY) and state.acts_for(m.id, T0 + DAY - 1)
    assert state.active(phone.public_key)
    # the thief held the laptop and revoked the phone at the same position: a fork
    thief = keyevents.revoke(m.state(m.events[:2]), m.first, phone.public_key, T0 + DAY, T0 + 2 * DAY)
    assert m.state(m.events + [thief]).disputed
    # the owner rotates from the event before the fight (recovery file): the rotation wins
    m.events.append(thief)
    m.controller = m.first
    m.rotate(T0 + 3 * DAY, after=m.state(m.events[:2]).tip, since=T0 + DAY)
    state = m.state()
    assert not state.disputed and state.controller == m.controller.public_key
    assert state.active(phone.public_key) and not state.acts_for(m.id, T0 + DAY)


def test_events_that_break_their_own_rules_are_refused_on_their_own():
    first = Identity.generate()
    good = keyevents.incept(first, Identity.generate().public_key, T0)
    for change, words in [(dict(seq=1), "starts with its inception"),
                          (dict(next=None), "commits to the next key"),
                          (dict(kind="revoke", since=None), "starts with its inception"),
                          (dict(since=T0), "only a rotation or a revocation")]:
        bad = sign(dataclasses.replace(good, **change), first)
        with pytest.raises(InvalidRecord, match=words):
            check_record(bad, T0)
    with pytest.raises(DecodeError, match="keyevent.kind"):
        raw = encode(good).replace(b"\xa6incept", b"\xa6accept")
        decode(raw)


def test_orphans_wait_and_the_device_count_is_bounded():
    m = Member()
    m.incept()
    devices = [Identity.generate() for _ in range(MAX_DEVICES + 1)]
    for k, d in enumerate(devices[:MAX_DEVICES]):
        m.add(d, T0 + k + 1)
    extra = keyevents.consent(keyevents.add_device(m.state(), m.first, devices[-1].public_key, T0 + 99), devices[-1])
    assert devices[-1].public_key not in m.state(m.events + [extra]).windows
    # a gap: the last event without its parent is not followed
    assert m.state(m.events[:3] + m.events[4:]).tip_seq == 2


def test_a_key_claimed_by_two_members_belongs_to_neither():
    a, b = Member(), Member()
    a.incept(), b.incept()
    shared = Identity.generate()
    a.add(shared, T0 + 1)
    b.add(shared, T0 + 1)
    own = Identity.generate()
    a.add(own, T0 + 2)
    assert members_of([a.state(), b.state()]) == {own.public_key: a.id}
