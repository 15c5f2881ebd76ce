from web.audit.views import bp

__all__ = ["bp"]
