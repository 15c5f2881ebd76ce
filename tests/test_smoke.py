def test_login_and_select_round_trip(api, demo):
    api.login("alice")
    response = api.post(f"/api/deals/{demo['northwind']}/select")
    assert response.status_code == 200
    assert api.current_deal_id() == demo["northwind"]
