"""The identity pages' forms: sign-in, and an admin's changes to a person's account."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from web.identity.models import Role
from web.platform.currency import CURRENCY_CHOICES

ACCOUNT_ROLE_CHOICES = [SelectChoice(role.value, role.value.capitalize()) for role in Role]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class AccountRoleForm(FlaskForm):
    role = SelectField("Role", choices=ACCOUNT_ROLE_CHOICES, coerce=Role)


class AccountActiveForm(FlaskForm):
    active = SelectField("Active", choices=[SelectChoice("1", "Active"), SelectChoice("0", "Inactive")])


class CurrencyForm(FlaskForm):
    """An admin's choice of the currency the organization's amounts are shown in."""

    currency = SelectField("Currency", choices=[SelectChoice(code, label) for code, label in CURRENCY_CHOICES])
