"""The page header's deal switcher form."""

from __future__ import annotations

from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

from web.platform.forms import ActionForm
from web.platform.http import MAX_ID


class SwitchDealForm(ActionForm):
    """The header's deal switcher."""

    deal_id = IntegerField("Current deal", validators=[InputRequired(), NumberRange(min=1, max=MAX_ID)])
