"""NUL characters never reach SQL: found by the fuzz run, a 500 on PostgreSQL before web.security refused them."""

from __future__ import annotations

import pytest

from tests.support.stacks import POSTGRES_REDIS, POSTGRES_SQL, SQLITE_SQL

on_postgres_and_sqlite = pytest.mark.parametrize("stack", [POSTGRES_SQL, POSTGRES_REDIS, SQLITE_SQL], indirect=True)


@on_postgres_and_sqlite
def test_nul_in_json_fields_is_a_validation_error(api, demo):
    response = api.post("/api/auth/login", json={"email": "alice@acme.test\x00", "password": "x"})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        "email": "Must not contain NUL characters or unpaired surrogates."
    }
    api.login("alice@acme.test")
    assert api.post("/api/deals", json={"name": "a\x00b"}).status_code == 422
    assert api.post(f"/api/deals/{demo['northwind']}/notes", json={"body": "x\x00"}).status_code == 422
    assert api.patch(f"/api/deals/{demo['northwind']}", json={"name": "\x00"}).status_code == 422
    nested = api.post("/api/deals", json={"name": "ok", "extra": ["fine", {"k\x00": 1}]})
    assert nested.status_code == 422
    assert "extra.1" in nested.get_json()["error"]["fields"]


@on_postgres_and_sqlite
def test_nul_in_query_path_and_form_values(api, demo):
    api.login("alice@acme.test")
    response = api.get("/api/audit?action=deal%00select")
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"action"}
    assert api.delete("/api/sessions/ab%00cd").status_code == 404
    form = api.client.post("/login", data={"email": "a\x00", "password": "x", "csrf_token": api.csrf})
    assert form.status_code == 400


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_unpaired_surrogates_are_refused_and_ordinary_text_passes(api, demo):
    api.login("alice@acme.test")
    raw = '{"name": "broken \\ud800 text"}'
    assert api.post("/api/deals", data=raw, content_type="application/json").status_code == 422
    created = api.post("/api/deals", json={"name": "Zürich — 東京 ✓ 🚀"})
    assert created.status_code == 201
    assert created.get_json()["name"] == "Zürich — 東京 ✓ 🚀"
