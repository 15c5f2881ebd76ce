from web.accounts.views import bp

__all__ = ["bp"]
