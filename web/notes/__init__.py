from web.notes.views import bp

__all__ = ["bp"]
