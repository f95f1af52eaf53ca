"""A username/password login for Locust's web UI, behind Locust's own `--web-login` page.

Locust 2.x replaced basic auth (`--web-auth`) with `--web-login`, which shows a login form and leaves checking it
to the locustfile. This module checks it against HARNESS_WEB_LOGIN=user:password (an environment variable, so the
password never shows in `ps`). `harness ui` demands it before binding the web UI beyond loopback.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from typing import TYPE_CHECKING

from flask import Blueprint, redirect, request, session, url_for
from flask_login import UserMixin, login_user

if TYPE_CHECKING:  # `harness ui` reads the credentials here and must not import Locust (it patches the process)
    from locust.web import WebUI
    from werkzeug.wrappers import Response

CREDENTIALS_VARIABLE = "HARNESS_WEB_LOGIN"
log = logging.getLogger("harness")


class _Operator(UserMixin):
    def __init__(self, name: str) -> None:
        self.id = name


def credentials_from_environment() -> tuple[str, str] | None:
    """(user, password) from HARNESS_WEB_LOGIN=user:password, or None when unset or malformed."""
    user, sep, password = os.environ.get(CREDENTIALS_VARIABLE, "").partition(":")
    return (user, password) if sep and user and password else None


def require_login(web_ui: WebUI) -> None:
    """Every page and API call of the web UI then needs a session opened with the one configured user."""
    credentials = credentials_from_environment()
    if credentials is None:
        log.error("--web-login needs %s=user:password in the environment (the login the web UI asks for)", CREDENTIALS_VARIABLE)
        raise SystemExit(2)
    expected_user, expected_password = credentials
    web_ui.app.config["SECRET_KEY"] = secrets.token_hex(32)  # sessions end with the process
    web_ui.login_manager.user_loader(lambda name: _Operator(name) if name == expected_user else None)
    base = web_ui.environment.parsed_options.web_base_path or ""
    web_ui.auth_args = {"username_password_callback": f"{base}/harness-login"}
    blueprint = Blueprint("harness_login", __name__, url_prefix=base or None)

    @blueprint.route("/harness-login", methods=["POST"])
    def _submit() -> Response:
        user = request.form.get("username", "")
        password = request.form.get("password", "")
        if hmac.compare_digest(user.encode(), expected_user.encode()) and hmac.compare_digest(
            password.encode(), expected_password.encode()
        ):
            login_user(_Operator(user))
            return redirect(url_for("locust.index"))
        session["auth_error"] = "Invalid username or password"
        return redirect(url_for("locust.login"))

    web_ui.app.register_blueprint(blueprint)
