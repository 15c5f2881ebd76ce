"""Amounts with their currency: the organization's ISO 4217 code, shown with a symbol when there is a common one.

Babel is not a dependency; a short table covers the currencies an organization can choose
(``CURRENCY_CHOICES``), and any other code is shown as the code itself ("SEK 1,200.00").
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

DEFAULT_CURRENCY = "USD"

# Code → (symbol, decimal places). Symbols that are shared ($, ¥, kr) carry a prefix, so no amount is ambiguous.
_CURRENCIES: dict[str, tuple[str, int]] = {
    "USD": ("$", 2),
    "EUR": ("€", 2),
    "GBP": ("£", 2),
    "JPY": ("¥", 0),
    "CHF": ("CHF ", 2),
    "CAD": ("CA$", 2),
    "AUD": ("A$", 2),
    "CNY": ("CN¥", 2),
    "INR": ("₹", 2),
    "SGD": ("S$", 2),
    "HKD": ("HK$", 2),
    "SEK": ("SEK ", 2),
    "NOK": ("NOK ", 2),
    "DKK": ("DKK ", 2),
    "BRL": ("R$", 2),
    "ZAR": ("R ", 2),
}

# What the admin's currency setting offers: (code, label), by code.
CURRENCY_CHOICES: list[tuple[str, str]] = [
    (code, f"{code} ({symbol.strip()})" if symbol.strip() != code else code)
    for code, (symbol, _) in sorted(_CURRENCIES.items())
]


def is_supported_currency(code: str) -> bool:
    return code in _CURRENCIES


def format_money(value: Decimal | int | float, currency: str | None = None) -> str:
    """``$1,250,000.00``, ``€980.50``, ``¥1,250,000``; an unknown code is written out: ``XTS 10.00``."""
    code = (currency or DEFAULT_CURRENCY).upper()
    symbol, places = _CURRENCIES.get(code, (f"{code} ", 2))
    amount = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount):,.{places}f}"
