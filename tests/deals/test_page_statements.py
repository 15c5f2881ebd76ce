"""What each HTML page costs the database: exact statement counts, so an N+1 or a repeated header cannot creep back.

The session store's own read is counted apart (``QueryLog.store_statements``); these are the app's statements,
the page header included. The deal has members, notes by several authors and people who could be added, so a
query per row would show in the count.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import delete

from tests.support.clients import ApiClient, signed_in, submit
from tests.support.factories import Factories
from tests.support.queries import QueryLog
from tests.support.stacks import BOTH_DATABASES
from web.audit.models import AuditEvent
from web.deal_context.header import SWITCHER_LIMIT
from web.deals.models import MemberRole
from web.extensions import db
from web.identity.models import Role


@dataclass(frozen=True)
class Desk:
    """An admin with a current deal that has members and notes, and a member with nothing selected."""

    admin: ApiClient
    member: ApiClient
    deal_id: int


@pytest.fixture
def desk(browser: Callable[..., ApiClient], make: Factories) -> Desk:
    organization = make.organization()
    admin = make.user(organization, role=Role.ADMIN)
    editor = make.user(organization)
    viewer = make.user(organization)
    make.user(organization)  # could be added to the deal
    make.user(organization)
    deal = make.deal(admin)
    make.member(deal, editor, role=MemberRole.EDITOR)
    make.member(deal, viewer)
    for author in [admin, editor, viewer, admin, editor, viewer, admin]:
        make.note(deal, author)
    for _ in range(3):
        make.deal(admin)
    admin_browser = signed_in(browser, admin.email)
    assert submit(admin_browser, "/deals/select", {"deal_id": deal.id}).status_code == 302
    return Desk(admin=admin_browser, member=signed_in(browser, editor.email), deal_id=deal.id)


def statements_for(user: ApiClient, path: str, count_queries: Callable[[], QueryLog]) -> list[str]:
    user.get(path)  # the first request after sign-in may restore the context; count a steady one
    with count_queries() as log:
        response = user.get(path)
    assert response.status_code == 200
    return log.app_statements


@BOTH_DATABASES
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # The header (switcher deals, their total and the current deal), the deal with its owner,
        # permissions, note total and latest notes, and its members.
        ("/", 3),
        # The header and the list with its total and which deals the user manages.
        ("/deals", 2),
        ("/deals?q=deal", 2),
        # As the home page, the members' statement also listing who could be added.
        ("/deals/{deal_id}", 3),
        # The header and the user's sessions.
        ("/settings/sessions", 2),
        # The header, the admin check and the organization's people.
        ("/admin/users", 3),
    ],
)
def test_admin_page_statement_count(desk: Desk, count_queries, path: str, expected: int) -> None:
    statements = statements_for(desk.admin, path.format(deal_id=desk.deal_id), count_queries)
    assert len(statements) == expected, statements


@BOTH_DATABASES
def test_home_without_a_current_deal_is_the_header_alone(desk: Desk, count_queries) -> None:
    assert len(statements_for(desk.member, "/", count_queries)) == 1


@BOTH_DATABASES
def test_deal_page_statement_count_for_an_editor(desk: Desk, count_queries) -> None:
    statements = statements_for(desk.member, f"/deals/{desk.deal_id}", count_queries)
    assert len(statements) == 3, statements


@BOTH_DATABASES
def test_current_deal_beyond_the_switcher_stays_in_it_for_one_statement(app, browser, make: Factories, count_queries):
    """The header's one statement still finds a current deal that is not among the 50 it lists: one whose
    selection has left the audit trail (retention) and whose name sorts last."""
    owner = make.user()
    oldest = make.deal(owner, name="Zz last by name")
    for _ in range(SWITCHER_LIMIT + 1):
        make.deal(owner)
    user = signed_in(browser, owner.email)
    assert submit(user, "/deals/select", {"deal_id": oldest.id}).status_code == 302
    with app.app_context():
        db.session.execute(delete(AuditEvent).where(AuditEvent.user_id == owner.id))
        db.session.commit()
    user.get("/deals")
    with count_queries() as log:
        page = user.get("/deals").text
    assert len(log.app_statements) == 2, log.app_statements
    switcher = page.split('id="switcher-deal"')[1].split("</select>")[0]
    options = re.findall(r'<option value="(\d+)"( selected)?>', switcher)
    assert options[0] == (str(oldest.id), " selected")
    assert len(options) == SWITCHER_LIMIT + 1
    assert f"All {SWITCHER_LIMIT + 2} deals" in page
