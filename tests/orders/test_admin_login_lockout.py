"""Password guessing on the admin login (django-axes): a username + address pair is locked out after too many
wrong passwords, even with the right one; an administrator unlocks it; API tokens are not affected."""

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.urls import reverse

from tests.browser import PASSWORD
from tests.conftest import client_for
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")


def login_post(client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(f"{LOGIN}?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def lock_out(client, username: str, ip: str = "10.0.0.1") -> None:
    for _ in range(5):  # LOGIN_FAILURE_LIMIT
        login_post(client, username, "wrong-guess", ip)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_admin_login_after_five_wrong_passwords_is_locked_even_with_the_right_one(client, kefu):
    # given: four wrong guesses still get the ordinary form
    for _ in range(4):
        assert login_post(client, "kefu", "wrong-guess").status_code == 200

    # when: the fifth wrong guess, then the right password
    fifth = login_post(client, "kefu", "wrong-guess")
    right = login_post(client, "kefu", PASSWORD)

    # then: locked, with a clear page in Chinese naming the user and how long, and not logged in
    for response in (fifth, right):
        assert response.status_code == 429
        html = response.content.decode()
        assert "登录已锁定" in html
        assert "kefu" in html and "15 分钟" in html
        assert "管理员" in html  # who can unlock it
    assert not logged_in(client)


def test_admin_login_lockout_is_per_username_and_address(client, kefu, cangku):
    lock_out(client, "kefu", ip="10.0.0.1")

    # the same user from another address, and another user from the same address, still log in
    assert login_post(client, "kefu", PASSWORD, ip="10.0.0.2").status_code == 302
    client.logout()
    assert login_post(client, "cangku", PASSWORD, ip="10.0.0.1").status_code == 302


def test_admin_login_unlocked_by_administrator_in_the_admin_can_log_in(client, kefu):
    # given: kefu locked out, and a 管理员 who is not a superuser
    lock_out(client, "kefu")
    attempt = AccessAttempt.objects.get(username="kefu")
    admin_user = user_with_role("管理员", "guanli")
    client.force_login(admin_user)

    # when: the administrator deletes the access attempt in the admin
    changelist = reverse("admin:axes_accessattempt_changelist")
    assert client.get(changelist).status_code == 200
    response = client.post(changelist, {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"})
    assert response.status_code == 302
    client.logout()

    # then: kefu logs in with the right password
    assert not AccessAttempt.objects.exists()
    assert login_post(client, "kefu", PASSWORD).status_code == 302
    assert logged_in(client)


def test_axes_reset_username_command_unlocks_the_user(client, kefu):
    lock_out(client, "kefu")
    assert login_post(client, "kefu", PASSWORD).status_code == 429

    call_command("axes_reset_username", "kefu")

    assert login_post(client, "kefu", PASSWORD).status_code == 302


def test_admin_login_lockout_does_not_touch_api_tokens(client, integrator):
    lock_out(client, "api")
    assert AccessAttempt.objects.filter(username="api").exists()

    response = client_for(integrator).get("/api/v1/orders/")

    assert response.status_code == 200


@pytest.mark.parametrize("role", ["客服", "仓库", "采购", "运营主管", "财务"])
def test_access_attempts_admin_is_only_for_administrators(client, role):
    client.force_login(user_with_role(role, f"user-{role}"))

    assert b"/admin/axes/" not in client.get("/admin/").content
    assert client.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403
