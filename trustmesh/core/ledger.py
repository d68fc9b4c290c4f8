"""A member's ledger: their identity and their store, and the records they make.

Local records take the same path as received ones: the ledger signs, and
hands the bytes to its ``ingest`` (``Store.ingest`` offline; the node's one
intake when a node owns the ledger), so there is one validation path.
Making a chained record reads the chain head and appends to it; an
exclusive lock on the home directory keeps two processes from both
appending at the same position, which would make us look like an
equivocator to everyone. While a node runs for the home, it is the only
writer: a ledger opened beside it refuses to write (HomeLocked), because
what it wrote would be neither gossiped nor offered to sync by the node.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone

from trustmesh.crypto.ids import member_key
from trustmesh.crypto.keys import Identity
from trustmesh.core.home import Home, node_running, resolve_home
from trustmesh.core.keyfile import create_key, load_key
from trustmesh.errors import BadLink, DecodeError, HomeLocked, InvalidRecord, NotFound, TrustmeshError, UsageError
from trustmesh.store import ACCEPTED, DUPLICATE, IngestResult, Store, StoredRecord
from trustmesh.protocol.facets import check_facet
from trustmesh.protocol.validate import check_record
from trustmesh.protocol.records import (
    Attestation, Deal, Profile, Record, Reply, Retraction, countersign, decode, encode,
    reference_hash, sign,
)


# For tests only (not a setting): shifts this process's wall clock by this many
# milliseconds, so that a test can run two node processes whose clocks differ
# (tests/test_p2p_blame.py). Read once, when the process starts, and again by
# a node process the test kit forks (trustmesh/testing/forkserver.py) once it
# has its own environment.
TEST_CLOCK_OFFSET_ENV = "TRUSTMESH_TEST_CLOCK_OFFSET_MS"
_TEST_OFFSET_MS = int(os.environ.get(TEST_CLOCK_OFFSET_ENV) or 0)


def read_test_clock_offset() -> None:
    global _TEST_OFFSET_MS
    _TEST_OFFSET_MS = int(os.environ.get(TEST_CLOCK_OFFSET_ENV) or 0)


def now_ms() -> int:
    """The wall clock in milliseconds since the epoch: the node's only clock."""
    return time.time_ns() // 1_000_000 + _TEST_OFFSET_MS


class Ledger:
    """One member's identity and record store, for making and reading records."""

    def __init__(self, home: Home, identity: Identity, store: Store,
                 clock: Callable[[], int] = now_ms) -> None:
        self.home = home
        self.identity = identity
        self.store = store
        self.clock = clock
        # where made records go; the node replaces it with its intake (and owns the home)
        self.ingest_own: Callable[[list[bytes]], list[IngestResult]] | None = None

    @classmethod
    def create(cls, home: str | os.PathLike | Home | None = None, passphrase: bytes | None = None,
               identity: Identity | None = None) -> "Ledger":
        """Make a new home with a new identity; KeyExists if one is there."""
        home = home if isinstance(home, Home) else resolve_home(home)
        home.create()
        identity = identity or Identity.generate()
        create_key(home.key, identity, passphrase)
        return cls(home, identity, Store.open(home.store))

    @classmethod
    def open(cls, home: str | os.PathLike | Home | None = None, passphrase: bytes | None = None,
             **store_options) -> "Ledger":
        """Open an existing home; KeyFileError if it has no identity."""
        home = home if isinstance(home, Home) else resolve_home(home)
        identity = load_key(home.key, passphrase)
        return cls(home, identity, Store.open(home.store, **store_options))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def me(self) -> bytes:
        return self.identity.public_key

    # ---- making records --------------------------------------------------

    def attest(self, subject: bytes | str, facet: str, positive: bool, *, ref: str | None = None,
               deal: bytes | str | None = None, occurred: int | datetime | date | None = None,
               expires: int | datetime | date | None = None, note: str | None = None) -> StoredRecord:
        """Sign and store an attestation about ``subject`` (a PeerID, did:key, hex, or 32 bytes).

        ``deal`` is a deal's id as printed (hex, or a unique prefix of 8+
        digits) or 32 bytes; ``occurred``/``expires`` a ``datetime`` (naive
        means UTC), a ``date`` (midnight UTC) or milliseconds since the epoch.
        A value of the wrong type is a UsageError, as a wrong value is.
        """
        subject = member_key(subject)
        _text(facet, "facet", required=True)
        check_facet(facet)
        if not isinstance(positive, bool):
            raise UsageError("positive is True or False")
        _text(ref, "ref")
        _text(note, "note")
        occurred, expires = to_ms(occurred, "occurred"), to_ms(expires, "expires")
        ref_hash = reference_hash(ref, self.me, subject) if ref else None
        if deal is not None:
            deal = self.record_id(deal)
            held = self.store.get(deal).record
            if not isinstance(held, Deal):
                raise UsageError("--deal must name a deal")
            ref_hash = ref_hash or held.ref
        now = self.clock()
        return self._append(lambda seq, prev: Attestation(
            self.me, seq, prev, now, subject, facet, positive, ref_hash, deal,
            now if occurred is None else occurred, expires, note or None))

    def retract(self, target: bytes | str, reason: str | None = None) -> StoredRecord:
        """Withdraw one of my records (for a deal: either party may).

        Refused here, before signing, when the record is not held, not mine,
        or already retracted: a retraction the rules would ignore is noise.
        """
        from trustmesh.protocol.validate import parties
        _text(reason, "reason")
        held = self.store.get(self.record_id(target))
        target = held.id
        if self.me not in parties(held.record):
            raise BadLink("only the author may retract a record")
        if held.retracted:
            raise TrustmeshError(f"record {target.hex()[:12]} is already retracted")
        now = self.clock()
        return self._append(lambda seq, prev: Retraction(self.me, seq, prev, now, target, reason or None))

    def reply(self, target: bytes | str, stance: str, note: str | None = None) -> StoredRecord:
        """Answer an attestation about me: "contest" or "acknowledge"."""
        _text(stance, "stance", required=True)
        _text(note, "note")
        target = self.record_id(target)
        now = self.clock()
        return self._append(lambda seq, prev: Reply(self.me, seq, prev, now, target, stance, note or None))

    def set_profile(self, name: str, org: str | None = None, url: str | None = None) -> StoredRecord:
        """Publish a new self-description; it replaces the previous one."""
        _text(name, "name", required=True)
        _text(org, "org")
        _text(url, "url")
        now = self.clock()
        return self._append(lambda seq, prev: Profile(self.me, seq, prev, now, name, org or None, url or None))

    def propose_deal(self, counterparty: bytes | str, ref: str, role: str,
                     due: int | datetime | date | None = None) -> Deal:
        """A deal signed by me, to be countersigned by ``counterparty`` (not stored yet)."""
        counterparty = member_key(counterparty)
        _text(ref, "ref", required=True)
        if role not in ("client", "supplier"):
            raise UsageError("role is 'client' or 'supplier'")
        if counterparty == self.me:
            raise UsageError("a deal needs two different members")
        due = to_ms(due, "due")
        now = self.clock()
        deal = Deal(self.me, counterparty, role, reference_hash(ref, self.me, counterparty), due, now)
        signed = sign(deal, self.identity)
        _check_fields(signed)
        check_record(signed, now, verify=False)   # refuse here what the other side would
        return signed  # type: ignore[return-value]

    def countersign(self, proposal: Deal) -> StoredRecord:
        """Countersign a proposal addressed to me and store the complete deal."""
        deal = countersign(proposal, self.identity)
        return self.store_signed(encode(deal))

    # ---- trust, from my point of view ---------------------------------------

    def trust(self, subject: bytes | str, facet: str | None = None, *, explain: bool = False):
        """My trust in ``subject`` now: a TrustScore (a list over facets when ``facet`` is None).

        The same answer as ``TrustEngine.for_ledger(self).trust`` (``explain``:
        with the attestations behind it); the engine is kept between calls.
        """
        engine = self._engine()
        ask = engine.explain if explain else engine.trust
        return ask(subject, facet, self.clock())

    def rank(self, facet: str, limit: int = 20):
        """The members best known on ``facet`` from my point of view (RankEntry list)."""
        check_facet(facet)
        if type(limit) is not int or limit < 1:
            raise UsageError("limit is a whole number from 1")
        return self._engine().rank(facet, limit, self.clock())

    def _engine(self):
        if getattr(self, "_trust_engine", None) is None:
            from trustmesh.core.trustview import TrustEngine     # numpy: loaded on first use
            self._trust_engine = TrustEngine.for_ledger(self)
        return self._trust_engine

    # ---- receiving -------------------------------------------------------

    def ingest(self, raws: Iterable[bytes]) -> list[IngestResult]:
        """Verify and store records from elsewhere; a result per record (offline only)."""
        if self.ingest_own is not None:
            return self.ingest_own(list(raws))
        if node_running(self.home):
            raise HomeLocked(f"a node is running for {self.home.root}: import through it")
        return self.store.ingest(raws, self.clock())

    def export(self) -> Iterator[bytes]:
        """Every record held, encoded, for a bundle."""
        return self.store.iter_raw()

    def record_id(self, ref: bytes | str) -> bytes:
        """A record id given as bytes, or as hex text / a unique prefix of 8+ digits;
        UsageError (NotFound for a prefix nobody holds) otherwise."""
        if isinstance(ref, str):
            return self.store.resolve(ref)
        if not isinstance(ref, bytes) or len(ref) != 32:
            raise UsageError("a record id is its hex text (as printed) or 32 bytes")
        return ref

    def store_signed(self, raw: bytes) -> StoredRecord:
        """Store a record this member signed (a key event made by ``core/keys.py``, a deal)
        by the one path made records take: the node's intake when a node owns the ledger,
        else the store; HomeLocked beside a running node, InvalidRecord when refused."""
        if self.ingest_own is None:
            if node_running(self.home):
                raise HomeLocked(f"a node is running for {self.home.root}: write through it "
                                 "(the trustmesh command does; apps use Node)")
            (result,) = self.store.ingest([raw], self.clock())
        else:
            (result,) = self.ingest_own([raw])
        if result.status not in (ACCEPTED, DUPLICATE):
            raise InvalidRecord(result.reason or "record refused")
        return self.store.get(result.id)

    # ---- internals -------------------------------------------------------

    @contextmanager
    def _writer_lock(self):
        fd = os.open(self.home.lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _append(self, make: Callable[[int, bytes | None], Record]) -> StoredRecord:
        with self._writer_lock():
            seq, prev = self.store.head(self.me)
            record = sign(make(seq + 1, prev), self.identity)
            _check_fields(record)
            return self.store_signed(encode(record))


def to_ms(value: int | datetime | date | None, name: str) -> int | None:
    """Milliseconds since the epoch for a time given as a datetime (naive: UTC), a date
    (midnight UTC) or milliseconds; UsageError for anything else."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return int(moment.timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime.combine(value, datetime.min.time(), timezone.utc).timestamp() * 1000)
    if type(value) is int:
        return value
    raise UsageError(f"{name} is a datetime, a date or milliseconds since the epoch, not {type(value).__name__}")


def _text(value, name: str, *, required: bool = False) -> None:
    """UsageError unless ``value`` is text (or None when allowed)."""
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise UsageError(f"{name} is text, not {type(value).__name__}")


def _check_fields(record: Record) -> None:
    """Catch a field the wire format would refuse, as a usage error."""
    try:
        decode(encode(record), allow_proposal=True)
    except DecodeError as exc:
        raise UsageError(str(exc)) from None


__all__ = ["Ledger", "now_ms", "NotFound"]
