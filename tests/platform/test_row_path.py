"""``row_path`` gives the very string ``url_for`` gives, for any id."""

from __future__ import annotations

import pytest
from flask import url_for

from tests.support.stacks import ONE_STACK
from web.platform.http import MAX_ID
from web.platform.pages import row_path

ROUTES = [
    ("pages.deal_detail", "deal_id", {}),
    ("pages.select_deal", "deal_id", {}),
    ("pages.confirm_delete", "deal_id", {}),
    ("pages.change_member_role", "user_id", {"deal_id": 7}),
    ("pages.change_user_role", "user_id", {}),
]


@ONE_STACK
@pytest.mark.parametrize(("endpoint", "argument", "values"), ROUTES)
def test_row_path_is_url_for(app, endpoint, argument, values):
    with app.test_request_context("/deals"):
        path = row_path(endpoint, argument, **values)
        for value in (1, 7, 42, 2_147_483, MAX_ID):
            assert path(value) == url_for(endpoint, **values, **{argument: value})


@ONE_STACK
def test_row_path_refuses_an_argument_the_path_does_not_hold(app):
    with app.test_request_context("/deals"), pytest.raises(ValueError, match=r"pages\.deal_list"):
        row_path("pages.deal_list", "deal_id", page=MAX_ID)  # the marker twice: in the query, and asked for
