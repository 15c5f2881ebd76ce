"""The sessions page and the admins' People page through Flask's test client."""

from __future__ import annotations

import re

import pytest

from tests.support.clients import signed_in, submit
from tests.support.stacks import ONE_STACK
from web.identity.devices import describe_device

# --- Sessions and people -----------------------------------------------------------------------


def session_ids(page: str) -> list[str]:
    return re.findall(r'data-session-id="([^"]+)"', page)


@ONE_STACK
def test_sessions_page_lists_this_device_first_and_revokes_another(browser, demo):
    laptop = browser()
    laptop.login("bob@acme.test")
    phone = browser()
    phone.client.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 Mobile/15E148 Safari/604.1"
    )
    phone.login("bob@acme.test")
    page = laptop.get("/settings/sessions").text
    ids = session_ids(page)
    assert len(ids) == 2
    assert page.index("This device") < page.index("Mobile Safari 17 on iOS (iPhone)")
    other = ids[1]
    response = submit(laptop, f"/settings/sessions/{other}/revoke")
    assert response.headers["Location"] == "/settings/sessions"
    assert session_ids(laptop.get("/settings/sessions").text) == [ids[0]]
    assert phone.get("/").headers["Location"].startswith("/login")
    assert submit(laptop, f"/settings/sessions/{other}/revoke").status_code == 404


@ONE_STACK
def test_revoking_this_device_signs_out(browser, demo):
    user = signed_in(browser, "bob@acme.test")
    (mine,) = session_ids(user.get("/settings/sessions").text)
    assert submit(user, f"/settings/sessions/{mine}/revoke").headers["Location"] == "/login"
    assert user.get("/").status_code == 302


@ONE_STACK
def test_sign_out_everywhere_else_keeps_this_session(browser, demo):
    keep = signed_in(browser, "bob@acme.test")
    others = [signed_in(browser, "bob@acme.test") for _ in range(2)]
    response = submit(keep, "/settings/sessions/revoke-others")
    assert response.status_code == 302
    assert "Signed out 2 other sessions." in keep.get("/settings/sessions").text
    assert keep.get("/").status_code == 200
    assert all(other.get("/").status_code == 302 for other in others)


@ONE_STACK
def test_sessions_of_another_user_cannot_be_revoked(browser, demo):
    dave = signed_in(browser, "dave@acme.test")
    (daves,) = session_ids(dave.get("/settings/sessions").text)
    bob = signed_in(browser, "bob@acme.test")
    assert submit(bob, f"/settings/sessions/{daves}/revoke").status_code == 404
    assert dave.get("/").status_code == 200


@ONE_STACK
def test_people_page_is_for_admins(browser, demo):
    bob = signed_in(browser, "bob@acme.test")
    assert bob.get("/admin/users").status_code == 403
    assert submit(bob, f"/admin/users/{demo['dave']}/active", {"active": "0"}).status_code == 403
    assert ">People<" not in bob.get("/").text
    alice = signed_in(browser, "alice@acme.test")
    page = alice.get("/admin/users").text
    assert "bob@acme.test" in page
    assert "dave@acme.test" in page
    assert "carol@globex.test" not in page
    assert ">People<" in alice.get("/").text


@ONE_STACK
def test_admin_changes_a_role_and_deactivates_someone(browser, demo):
    alice = signed_in(browser, "alice@acme.test")
    dave = signed_in(browser, "dave@acme.test")
    assert submit(alice, f"/admin/users/{demo['dave']}/role", {"role": "admin"}).status_code == 302
    assert "dave@acme.test is now admin." in alice.get("/admin/users").text
    assert dave.get("/admin/users").status_code == 200  # the live session follows the new role
    assert submit(alice, f"/admin/users/{demo['dave']}/active", {"active": "0"}).status_code == 302
    assert "Inactive" in alice.get("/admin/users").text
    assert dave.get("/").status_code == 302  # signed out everywhere
    assert submit(alice, f"/admin/users/{demo['alice']}/active", {"active": "0"}).status_code == 409
    assert submit(alice, f"/admin/users/{demo['carol']}/role", {"role": "member"}).status_code == 404


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox 128 on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.0 Mobile/15E148 Safari/604.1",
            "Mobile Safari 17 on iOS (iPhone)",
        ),
        ("curl/8.5.0", "curl 8"),
        ("", "Unknown device"),
        (None, "Unknown device"),
        ("something-odd", "something-odd"),
    ],
)
def test_device_is_described_from_the_user_agent(user_agent, device):
    assert describe_device(user_agent) == device
