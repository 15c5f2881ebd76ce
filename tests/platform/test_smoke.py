import pytest

from tests.support.stacks import SQLITE_SQL


def test_login_and_select_round_trip(api, demo):
    api.login("alice@acme.test")
    response = api.post(f"/api/deals/{demo['northwind']}/select")
    assert response.status_code == 200
    assert api.current_deal_id() == demo["northwind"]


@pytest.mark.parametrize("stack", [SQLITE_SQL], indirect=True)
def test_narrowed_stack_runs_once(api, demo):
    assert api.login("bob@acme.test").get_json()["user"]["email"] == "bob@acme.test"
