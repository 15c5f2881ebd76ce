from web.pages.views import bp

__all__ = ["bp"]
