"""CSRF on every form, escaping of attacker-controlled text, security headers, cookie
flags, login rate limiting, the cookie key's permissions, no open redirects.
Sessions and the throttle have test_sessions.py and test_throttle.py."""

from __future__ import annotations

import os
import re

import pytest

from support.webconsole import XSS_FILENAME, XSS_SUBJECT, client, csrf_of, login
from web import CookieKeyError, create_app
from web.keys import KEY_NAME


def _post_routes() -> list[str]:
    from web.routes import account, admin, audit_pages, auth, public
    paths = []
    for module in (account, admin, audit_pages, auth, public):
        for route in module.router.routes:
            if "POST" in getattr(route, "methods", set()):
                paths.append(re.sub(r"\{[^}]+\}", "x", route.path))
    return paths


def test_every_form_refuses_a_post_without_its_token(env):
    c = client(env.settings)
    login(c, "admin")
    posts = _post_routes()
    assert len(posts) >= 10 and "/account/password" in posts
    for path in posts:
        r = c.post(path, data={"username": "admin", "password": "x", "unit": "stc"})
        assert r.status_code == 403, path
        r = c.post(path, data={"csrf_token": "forged", "unit": "stc"})
        assert r.status_code == 403, path


def test_login_without_token_is_refused_even_with_the_right_password(env):
    c = client(env.settings)
    r = c.post("/login", data={"username": "admin", "password": "correct horse battery"})
    assert r.status_code == 403
    assert c.get("/audit").status_code == 303


def test_token_of_another_session_is_refused(env):
    other = client(env.settings)
    token = csrf_of(other.get("/login").text)
    c = client(env.settings)
    login(c, "admin")
    r = c.post("/admin/users/auditor-a/disable", data={"csrf_token": token})
    assert r.status_code == 403


def test_logout_ends_the_session(env):
    c = client(env.settings)
    login(c, "auditor-a")
    token = csrf_of(c.get("/audit").text)
    assert c.post("/logout", data={"csrf_token": token}).status_code == 303
    assert c.get("/audit").status_code == 303


def test_login_gives_a_new_session_and_token(env):
    c = client(env.settings)
    before = csrf_of(c.get("/login").text)
    login(c, "admin")
    after = csrf_of(c.get("/audit").text)
    assert before != after


def test_script_in_a_subject_and_filename_shows_as_text(env):
    c = client(env.settings)
    login(c, "admin")
    for path in ["/audit", "/audit/records/2", "/audit/trace?sha256=" + "0" * 64]:
        page = c.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page
    page = c.get("/audit/records/2").text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Bí mật SGD" in page
    assert "&lt;img src=x onerror=alert(1)&gt;.pdf" in page
    assert XSS_SUBJECT not in page and XSS_FILENAME not in page


def test_held_message_headers_and_parts_show_as_text(env):
    c = client(env.settings)
    login(c, "admin")
    page = c.get(f"/admin/quarantine/{env.held}").text
    assert "<script>alert" not in page and "<svg onload" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#39;held&#39;)&lt;/script&gt; Công văn" in page
    assert "&lt;svg onload=alert(1)&gt;.zip" in page
    assert "&lt;b&gt;Kinh gui&lt;/b&gt;" in page


def test_csv_export_keeps_formulas_as_text(env):
    from audit import AuditLog
    from support.audit import make_record
    with AuditLog.open(env.config.audit) as log:
        log.record(make_record(subject="=HYPERLINK(\"http://evil\")"))
    c = client(env.settings)
    login(c, "admin")
    text = c.get("/audit/export.csv").text
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


def test_security_headers_on_every_page(env):
    c = client(env.settings)
    for path in ["/", "/login", "/units/stc", "/api/units", "/no-such-page"]:
        r = c.get(path)
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"


def test_no_inline_script_or_style_in_any_template():
    from pathlib import Path
    for path in (Path(__file__).parents[2] / "web" / "templates").glob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert "<style" not in text and " style=" not in text and " on" + "click" not in text


def test_session_cookie_flags(env):
    c = client(env.settings)
    r = c.get("/login")
    cookie = r.headers["set-cookie"]
    assert "congvu_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    assert "Secure" not in cookie
    from dataclasses import replace
    secure = client(replace(env.settings, is_secure_cookie=True))
    assert "Secure" in secure.get("/login").headers["set-cookie"]


def test_tampered_session_cookie_is_ignored(env):
    c = client(env.settings)
    login(c, "auditor-a")
    value = c.cookies.get("congvu_session")
    payload, _, rest = value.partition(".")
    c.cookies.set("congvu_session", payload + "x." + rest)
    assert c.get("/audit").status_code == 303


def test_login_is_rate_limited(env):
    c = client(env.settings)
    for _ in range(env.settings.login_attempts):
        assert login(c, "admin", "wrong password!").status_code == 401
    r = login(c, "admin")
    assert r.status_code == 429
    assert c.get("/audit").status_code == 303


def test_wrong_password_and_unknown_user_look_the_same(env):
    c = client(env.settings)
    a = login(c, "admin", "wrong password!")
    b = login(c, "nobody-here", "wrong password!")
    assert a.status_code == b.status_code == 401
    assert 'id="login-error"' in a.text and 'id="login-error"' in b.text


def test_cookie_key_is_created_0600_and_reused(env):
    key = env.settings.keys_dir / KEY_NAME
    create_app(env.settings)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    first = key.read_bytes()
    create_app(env.settings)
    assert key.read_bytes() == first


def test_cookie_key_readable_by_others_is_refused(env):
    create_app(env.settings)
    key = env.settings.keys_dir / KEY_NAME
    os.chmod(key, 0o644)
    with pytest.raises(CookieKeyError, match="chmod 600"):
        create_app(env.settings)


def test_cookie_key_owned_by_another_user_is_refused(env):
    """As root, the only trusted owner is root: a key given to nobody is refused."""
    create_app(env.settings)
    key = env.settings.keys_dir / KEY_NAME
    os.chown(key, 65534, -1)
    with pytest.raises(CookieKeyError, match="owned by nobody, not by root; run chown root"):
        create_app(env.settings)


def test_cookie_key_through_a_symlink_is_checked_at_its_target(env, tmp_path):
    create_app(env.settings)
    real = tmp_path / "secret" / KEY_NAME
    real.parent.mkdir(mode=0o700)
    key = env.settings.keys_dir / KEY_NAME
    key.rename(real)
    key.symlink_to(real)
    create_app(env.settings)  # followed: the target is private
    os.chmod(real, 0o660)
    with pytest.raises(CookieKeyError, match=f"the link's target {real} is readable and "
                                             "writable by group"):
        create_app(env.settings)


def test_cookie_key_in_a_keys_directory_others_can_write_is_refused(env):
    create_app(env.settings)
    os.chmod(env.settings.keys_dir, 0o773)
    with pytest.raises(CookieKeyError, match="run chmod go-w"):
        create_app(env.settings)


def test_cookie_key_and_its_directory_are_created_private_whatever_the_umask(env):
    import shutil
    shutil.rmtree(env.settings.keys_dir)
    old = os.umask(0)
    try:
        create_app(env.settings)
    finally:
        os.umask(old)
    assert env.settings.keys_dir.stat().st_mode & 0o777 == 0o700
    assert (env.settings.keys_dir / KEY_NAME).stat().st_mode & 0o777 == 0o600


def test_short_cookie_key_is_refused(env):
    key = env.settings.keys_dir / KEY_NAME
    env.settings.keys_dir.mkdir(parents=True, exist_ok=True)
    key.write_bytes(b"short")
    os.chmod(key, 0o600)
    with pytest.raises(CookieKeyError, match="needs 32"):
        create_app(env.settings)


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/",
                                    "/\\evil.example", "javascript:alert(1)"])
def test_no_open_redirect(env, target):
    c = client(env.settings)
    r = c.get("/lang/en", params={"next": target})
    assert r.headers["location"] == "/"
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"username": "admin", "password": "correct horse battery",
                               "csrf_token": token, "next": target})
    assert r.headers["location"] == "/audit"


def test_english_switch(env):
    c = client(env.settings)
    assert "Đăng nhập" in c.get("/").text
    c.get("/lang/en?next=/")
    assert ">Log in<" in c.get("/").text
    assert c.get("/lang/xx").status_code == 404

