"""The form every page shares (Flask-WTF adds and checks the CSRF token); each domain keeps its own
forms in its ``forms`` module."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import Length, Optional


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token, and where to go afterwards."""

    next = HiddenField(validators=[Optional(), Length(max=2000)])
