"""Extension objects, created unbound; ``create_app`` binds them to an app."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from web.platform.csrf import HeaderTokenCSRFProtect
from web.platform.models import Base
from web.platform.read_requests import RequestSession
from web.platform.session_store import ServerSessions

# Safe requests read outside a transaction on PostgreSQL (web.platform.read_requests).
db = SQLAlchemy(model_class=Base, session_options={"class_": RequestSession})
migrate = Migrate()
login_manager = LoginManager()
# Flask-WTF's CSRFProtect; a token in the X-CSRFToken header skips its HTTPS Referer check (web.platform.csrf).
csrf = HeaderTokenCSRFProtect()
server_sessions = ServerSessions()
# Limits are attached to the sign-in views by web.accounts.throttle; nothing is limited by default.
limiter = Limiter(key_func=get_remote_address)
