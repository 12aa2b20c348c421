"""Back-office endpoints: stores, terminals and their keys, staff users, the audit log."""

from tests.factories import enrol


def test_an_admin_adds_a_terminal_whose_key_works_until_revoked(client, program):
    admin = program.headers("admin")
    r = client.post("/api/v1/terminals", json={"store": "BKK02", "name": "Till 2"}, headers=admin)
    assert r.status_code == 201
    key = r.get_json()["api_key"]
    terminal_id = r.get_json()["id"]
    listed = client.get("/api/v1/terminals", headers=admin).get_json()
    assert all("api_key" not in t for t in listed)
    till = {"Authorization": f"Bearer {key}"}
    assert (
        client.post(
            "/api/v1/members", json={"name": "A", "phone": "0812345670"}, headers=till
        ).status_code
        == 201
    )
    assert client.post(f"/api/v1/terminals/{terminal_id}/revoke", headers=admin).status_code == 200
    refused = client.post(
        "/api/v1/members", json={"name": "B", "phone": "0812345671"}, headers=till
    )
    assert refused.status_code == 401


def test_only_an_admin_manages_stores_and_users(client, program):
    body = {"code": "CNX01", "name": "Nimman"}
    assert (
        client.post("/api/v1/stores", json=body, headers=program.headers("marketer")).status_code
        == 403
    )
    assert (
        client.post("/api/v1/stores", json=body, headers=program.headers("admin")).status_code
        == 201
    )
    assert (
        client.post("/api/v1/stores", json=body, headers=program.headers("admin")).status_code
        == 409
    )
    user = {
        "email": "new@example.com",
        "role": "cashier",
        "store": "CNX01",
        "password": "longpassword",
    }
    assert (
        client.post("/api/v1/users", json=user, headers=program.headers("cashier")).status_code
        == 403
    )
    assert (
        client.post("/api/v1/users", json=user, headers=program.headers("admin")).status_code == 201
    )
    login = client.post(
        "/api/v1/auth/token", json={"email": "new@example.com", "password": "longpassword"}
    )
    assert login.get_json()["role"] == "cashier"


def test_an_adjustment_is_found_in_the_audit_log_with_its_reason(client, program):
    member = enrol(client, program)
    r = client.post(
        f"/api/v1/members/{member['id']}/adjustments",
        json={"points": 50, "reason": "Goodwill after a late order"},
        headers=program.headers("admin"),
    )
    assert r.status_code == 201
    audit = client.get("/api/v1/audit", headers=program.headers("admin")).get_json()
    assert audit[0]["action"] == "points.adjust"
    assert audit[0]["reason"] == "Goodwill after a late order"
    assert audit[0]["subject_id"] == str(member["id"])


def test_consent_changes_are_timed_per_channel(client, program):
    member = enrol(client, program, consents={"marketing_email": True, "marketing_sms": False})
    url = f"/api/v1/members/{member['id']}"
    before = {
        c["channel"]: c
        for c in client.get(f"{url}/consents", headers=program.headers("admin")).get_json()
    }
    assert before["marketing_email"]["granted"] is True
    r = client.patch(
        url, json={"consents": {"marketing_sms": True}}, headers=program.headers("cashier")
    )
    assert r.get_json()["consents"] == {"marketing_email": True, "marketing_sms": True}
    after = {
        c["channel"]: c
        for c in client.get(f"{url}/consents", headers=program.headers("admin")).get_json()
    }
    assert after["marketing_sms"]["changed_at"] > before["marketing_sms"]["changed_at"]
    assert after["marketing_email"]["changed_at"] == before["marketing_email"]["changed_at"]
