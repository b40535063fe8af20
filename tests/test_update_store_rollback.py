"""Data across versions: a release migrates the store forward; after a failed trial boot the
previous release runs again on the same data partition and must still use the database."""

import pytest
from test_store_db import NOW, capture

from appliance.store import Store, schema
from appliance.store.errors import StoreError
from appliance.store.testing import office_keys

V1 = list(schema.MIGRATIONS)


def _v2_additive(db):
    db["captures"].add_column("station_note", str)  # nullable: v1 code never sets it


def _v2_breaking(db):
    db.conn.execute("ALTER TABLE captures RENAME COLUMN receipt_code TO receipt")


def release(monkeypatch, migrations, min_reader):
    """Run as the release with these migrations (its SCHEMA_VERSION and MIN_READER)."""
    monkeypatch.setattr(schema, "MIGRATIONS", migrations)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(migrations))
    monkeypatch.setattr(schema, "MIN_READER", min_reader)


@pytest.fixture
def office(tmp_path):
    return office_keys(tmp_path / "office")


def test_previous_release_keeps_using_the_store_after_an_additive_migration(
    tmp_path, office, monkeypatch
):
    state = tmp_path / "state"
    release(monkeypatch, V1, {1: 1})
    with Store.open(state, office_public_key=office[1]) as s:
        first = capture(s).receipt_code
    release(monkeypatch, [*V1, _v2_additive], {1: 1, 2: 1})  # the new slot migrates forward
    with Store.open(state, office_public_key=office[1]) as s:
        assert (s.schema_before, s.schema_version) == (1, 2)
        second = capture(s).receipt_code
    release(monkeypatch, V1, {1: 1})  # trial failed: the old slot boots again
    with Store.open(state, office_public_key=office[1]) as s:
        assert s.schema_version == 2  # not migrated back: migrations only go forward
        third = capture(s).receipt_code
        codes = {r["receipt_code"] for r in s.list_captures(NOW.date())}
    assert codes == {first, second, third}
    assert not list(state.glob("*.schema-v*"))  # additive: no copy needed
    release(monkeypatch, [*V1, _v2_additive], {1: 1, 2: 1})  # and forward again later
    with Store.open(state, office_public_key=office[1]) as s:
        assert s.schema_before == 2
        assert len(s.list_captures(NOW.date())) == 3


def test_breaking_migration_keeps_a_copy_the_previous_release_can_open(
    tmp_path, office, monkeypatch
):
    state = tmp_path / "state"
    release(monkeypatch, V1, {1: 1})
    with Store.open(state, office_public_key=office[1]) as s:
        first = capture(s).receipt_code
    release(monkeypatch, [*V1, _v2_breaking], {1: 1, 2: 2})
    with Store.open(state, office_public_key=office[1]) as s:
        assert s.schema_version == 2
    copies = list(state.glob("*.schema-v1"))
    assert len(copies) == 1
    release(monkeypatch, V1, {1: 1})
    with pytest.raises(StoreError, match="schema-v1"):
        Store.open(state, office_public_key=office[1])
    kept = tmp_path / "kept"
    kept.mkdir()
    copies[0].rename(kept / "appliance.db")
    with Store.open(kept, office_public_key=office[1]) as s:
        assert [r["receipt_code"] for r in s.list_captures(NOW.date())] == [first]
