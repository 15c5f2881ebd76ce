"""The deal pages' forms: a deal, a member and their role, a note (Flask-WTF adds and checks the CSRF token)."""

from __future__ import annotations

from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import DecimalField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError

from web.deals.models import MemberRole, Stage
from web.deals.notes import NOTE_MAX_LENGTH

MAX_VALUE = Decimal("9999999999999999.99")  # Numeric(18, 2)

STAGE_CHOICES = [SelectChoice(stage.value, stage.value.replace("_", " ").capitalize()) for stage in Stage]
ROLE_CHOICES = [SelectChoice(role.value, role.value.capitalize()) for role in MemberRole]


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class DealForm(FlaskForm):
    name = StringField("Name", filters=[_strip], validators=[DataRequired(), Length(max=200)])
    stage = SelectField("Stage", choices=STAGE_CHOICES, coerce=Stage, default=Stage.SOURCING)
    value = DecimalField(
        "Value",
        places=2,
        default=Decimal("0"),
        validators=[InputRequired(), NumberRange(min=0, max=MAX_VALUE, message="Enter an amount from 0 upwards.")],
    )

    def validate_value(self, field: DecimalField) -> None:
        """Cents at most: the column keeps two decimals and would round anything finer."""
        exponent = field.data.as_tuple().exponent if field.data is not None else 0
        if isinstance(exponent, int) and exponent < -2:
            raise ValidationError("Use at most two decimals.")


class MemberForm(FlaskForm):
    """Add someone from the organization; the view fills ``user_id``'s choices."""

    user_id = SelectField("Person", coerce=int, validate_choice=True)
    role = SelectField("Role", choices=ROLE_CHOICES, coerce=MemberRole, default=MemberRole.VIEWER)


def person_choices(people: list[tuple[int, str]]) -> list[SelectChoice]:
    """``(user id, email)`` pairs as the options of ``MemberForm.user_id``."""
    return [SelectChoice(str(user_id), email) for user_id, email in people]


class MemberRoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES, coerce=MemberRole)


class NoteForm(FlaskForm):
    body = TextAreaField("New note", filters=[_strip], validators=[DataRequired(), Length(max=NOTE_MAX_LENGTH)])
