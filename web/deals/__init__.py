from web.deals.views import bp

__all__ = ["bp"]
