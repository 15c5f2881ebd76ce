from web.user_sessions.views import bp

__all__ = ["bp"]
