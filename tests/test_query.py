"""Query sessions joined by an in-memory link: answers, limits, refusals, hostile peers."""

from __future__ import annotations

import random

import pytest

from trustmesh.errors import LocalProtocolError, RemoteProtocolError, UsageError
from trustmesh.protocol.messages import ABORT, Finished, MessageReader, RecordsReceived, encode
from trustmesh.testing.memsync import pump
from trustmesh.protocol.query.session import (
    END, LINKED, QUERY, RESULTS, QueryAsked, QueryClient, QueryFailed, QueryLimits, QueryRequest, QueryServer,
)

SUBJECT, AUTHOR = b"\x07" * 32, b"\x09" * 32
RAWS = [random.Random(i).randbytes(150) for i in range(10)]


def fake_store(n: int) -> list[tuple[bytes, str, int, bytes]]:
    """(subject, facet, issued, raw) rows; the protocol never looks inside raw."""
    rng = random.Random(n)
    return [(SUBJECT if i % 2 else AUTHOR, "payment" if i % 3 else "delivery", 1000 + i, rng.randbytes(150))
            for i in range(n)]


def serve(rows, server: QueryServer):
    def on_event(event):
        if isinstance(event, QueryAsked):
            req = event.request
            hits = [raw for subject, facet, issued, raw in rows
                    if (req.subject is None or subject == req.subject)
                    and (req.facet is None or facet == req.facet)
                    and (req.since is None or issued >= req.since)]
            # stream in two calls, as a caller paging through its store would
            half = len(hits) // 2
            server.provide(hits[:half], done=False)
            server.provide(hits[half:event.limit])
    return on_event


def ask(request: QueryRequest, rows, *, limits=QueryLimits(), chunk=65536):
    client, server = QueryClient(request, limits), QueryServer(limits)
    client.start()
    server.start()
    got: list[bytes] = []
    on_client = lambda e: got.extend(e.raws) if isinstance(e, RecordsReceived) else None
    ev_c, ev_s = pump(client, server, on_client, serve(rows, server), chunk=chunk)
    return client, server, got, ev_c, ev_s


def test_query_by_subject_and_facet_returns_the_matches():
    rows = fake_store(1200)
    client, server, got, ev_c, ev_s = ask(QueryRequest(subject=SUBJECT, facet="payment", since=1100,
                                                       limit=1000), rows)
    want = [raw for s, f, i, raw in rows if s == SUBJECT and f == "payment" and i >= 1100]
    assert got == want and len(want) > 256  # more than one RESULTS frame
    assert isinstance(ev_c[-1], Finished) and isinstance(ev_s[-1], Finished)
    assert client.stats.records_received == server.stats.records_sent == len(want)
    assert client.stats.bytes_received <= 1.05 * sum(len(r) for r in want)


def test_server_caps_results_at_its_limit_and_the_request_limit():
    rows = fake_store(600)
    _, _, got, ev_c, _ = ask(QueryRequest(subject=SUBJECT, limit=10), rows)
    assert len(got) == 10 and isinstance(ev_c[-1], Finished)
    _, server, got, _, _ = ask(QueryRequest(subject=SUBJECT, limit=500), rows,
                               limits=QueryLimits(max_results=40))
    assert len(got) == 40


def test_no_match_is_an_empty_answer():
    _, _, got, ev_c, _ = ask(QueryRequest(author=b"\x01" * 32), [])
    assert got == [] and isinstance(ev_c[-1], Finished)


def test_refusal_is_a_query_failure():
    client, server = QueryClient(QueryRequest(subject=SUBJECT)), QueryServer()
    client.start()
    server.receive_data(client.data_to_send())
    assert isinstance(server.next_event(), QueryAsked)
    server.abort("busy")
    client.receive_data(server.data_to_send())
    ev = client.next_event()
    assert isinstance(ev, QueryFailed) and "busy" in ev.reason


def test_requests_are_checked_on_both_sides():
    for bad in [dict(), dict(subject=b"short"), dict(subject=SUBJECT, facet="nonsense"),
                dict(author=AUTHOR, limit=0), dict(author=AUTHOR, since=-1)]:
        with pytest.raises(UsageError):
            QueryRequest(**bad)
    # a well-formed QUERY that asks nothing answerable is refused with ABORT (as the spec says),
    # not treated as an attack
    server = QueryServer()
    server.receive_data(encode([QUERY, None, None, None, None, 10]))
    ev = server.next_event()
    assert isinstance(ev, QueryFailed) and "subject or an author" in ev.reason
    assert server.state == "failed"
    client = QueryClient(QueryRequest(subject=SUBJECT))
    client.start()
    client.receive_data(server.data_to_send())
    assert isinstance(client.next_event(), QueryFailed)
    # a QUERY of the wrong shape is the peer breaking the protocol
    server = QueryServer()
    server.receive_data(encode([QUERY, None]))
    with pytest.raises(RemoteProtocolError):
        server.next_event()


def test_a_client_may_abort_before_asking_without_fault():
    # ABORT may come from either side at any time (the spec); the server once took an ABORT in
    # place of the QUERY for a protocol error, which costs the client a ban
    server = QueryServer()
    server.receive_data(encode([ABORT, "shutting down"]))
    ev = server.next_event()
    assert isinstance(ev, QueryFailed) and "shutting down" in ev.reason and server.state == "failed"
    assert server.data_to_send() == b""


def test_linked_records_travel_beside_the_results_and_do_not_count_against_the_limit():
    client, server = QueryClient(QueryRequest(subject=SUBJECT, limit=2)), QueryServer()
    client.start()
    server.receive_data(client.data_to_send())
    asked = server.next_event()
    results, linked = RAWS[:5], RAWS[5:9]
    server.provide(results, linked, done=True)          # cut at the limit, each list on its own
    client.receive_data(server.data_to_send())
    got = []
    while (ev := client.next_event()) is not None and not isinstance(ev, Finished):
        got.extend(ev.raws)
    assert isinstance(ev, Finished) and asked.limit == 2
    assert got == results[:2] + linked[:2]
    # a server that sends more LINKED records than the limit breaks the protocol
    client = QueryClient(QueryRequest(subject=SUBJECT, limit=1))
    client.start()
    client.receive_data(encode([LINKED, RAWS[:2]]))
    with pytest.raises(RemoteProtocolError):
        client.next_event()


def test_local_misuse():
    server = QueryServer()
    with pytest.raises(LocalProtocolError):
        server.provide([])
    client = QueryClient(QueryRequest(subject=SUBJECT))
    with pytest.raises(LocalProtocolError):
        client.next_event()
    client.start()
    with pytest.raises(LocalProtocolError):
        client.start()


def started_client(limit=5) -> QueryClient:
    client = QueryClient(QueryRequest(subject=SUBJECT, limit=limit))
    client.start()
    client.data_to_send()
    return client


@pytest.mark.parametrize("messages", [
    [[RESULTS, [b"r"] * 6]],                       # more than asked for
    [[RESULTS, [b"r"] * 3], [RESULTS, [b"r"] * 3]],
    [[RESULTS, [b"x" * 3000]]],                     # not a record: too big
    [[RESULTS, []]],
    [[RESULTS, [b"r"]], [END, 2]],                 # END miscounts
    [[QUERY, SUBJECT, None, None, None, 1]],       # wrong direction
    [b"\x04\xc1\xc1\xc1\xc1"],                      # not msgpack
    [b"\x80\x80\x80\x01"],                         # oversized frame
])
def test_hostile_server_is_a_remote_protocol_error(messages):
    client = started_client()
    with pytest.raises(RemoteProtocolError):
        for m in messages:
            client.receive_data(m if isinstance(m, bytes) else encode(m))
            while client.next_event() is not None:
                pass
    reader = MessageReader()
    reader.feed(client.data_to_send())
    assert reader.next()[0] == ABORT


def test_server_that_hangs_up_early_is_a_query_failure():
    client = started_client()
    client.receive_data(encode([RESULTS, [b"r"]]))
    assert isinstance(client.next_event(), RecordsReceived)
    client.receive_data(b"")
    assert isinstance(client.next_event(), QueryFailed)


def test_frames_split_across_one_byte_reads():
    rows = fake_store(50)
    _, _, got, ev_c, _ = ask(QueryRequest(subject=SUBJECT), rows, chunk=1)
    assert len(got) == 25 and isinstance(ev_c[-1], Finished)


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40) | st.lists(
    st.none() | st.integers(0, 5) | st.binary(max_size=40) | st.text(max_size=8), min_size=1, max_size=6
).map(lambda m: encode([m[0] if isinstance(m[0], int) else 2] + m[1:])), max_size=4), st.booleans())
def test_fuzzed_input_never_crashes(chunks, as_server):
    s = QueryServer() if as_server else started_client()
    try:
        for data in chunks:
            s.receive_data(data)
            while (ev := s.next_event()) is not None:
                if isinstance(ev, QueryAsked):
                    s.provide([b"r"] * 3)
    except RemoteProtocolError:
        assert s.state == "error"
