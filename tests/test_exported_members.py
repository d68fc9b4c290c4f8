"""``trustmesh.__all__`` is exactly the intended API, and every name in it resolves (as httpx's test)."""

import trustmesh
import trustmesh.testing
from trustmesh import errors

INTENDED = {
    "__version__",
    "Identity", "peer_id", "did_key", "parse_id",
    "Attestation", "Deal", "Retraction", "Reply", "Profile", "Record",
    "encode", "decode", "record_id", "reference_hash", "CORE_FACETS", "is_facet",
    "Ledger", "Store", "StoredRecord", "IngestResult", "now_ms",
    "TrustEngine", "TrustConfig", "TrustScore", "RankEntry",
    "Node", "NodeEvent", "DealOutcome", "open_node", "NetConfig",
    *errors.__all__,
}


def test_all_is_the_intended_api():
    assert set(trustmesh.__all__) == INTENDED
    assert len(trustmesh.__all__) == len(set(trustmesh.__all__))


def test_every_exported_name_resolves_and_says_where_it_lives():
    for name in trustmesh.__all__:
        value = getattr(trustmesh, name)
        if name not in ("__version__", "Record", "CORE_FACETS") and hasattr(value, "__module__"):
            assert value.__module__.startswith("trustmesh."), (name, value.__module__)


def test_every_error_is_in_the_tree_with_a_status_and_an_exit_code():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.TrustmeshError)
        assert 400 <= cls.http_status < 600 and cls.exit_code in (1, 2)
        assert errors.by_name(name) is cls
    assert errors.by_name("no such thing") is errors.TrustmeshError


def test_the_test_kit_exports_what_it_documents():
    for name in trustmesh.testing.__all__:
        assert getattr(trustmesh.testing, name) is not None
