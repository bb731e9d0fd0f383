"""The demo site, its product line and one user per role, with passwords printed for a
first look (never used outside a demo database)."""

from django.contrib.auth.models import Group
from django.db import transaction

from users.models import ProductLine, Site, User
from users.roles import ROLES

DEMO_PASSWORD_TEMPLATE = "Demo-{role}-2026!"
DEMO_SITE_CODE = "PLANT-1"
STAFF_ROLES = ("records_admin", "qa_approver", "qa_reviewer")


def demo_password(role):
    return DEMO_PASSWORD_TEMPLATE.format(role=role.replace("_", "-").title())


def demo_password_for(user):
    return demo_password(user.username)


@transaction.atomic
def create_demo_people():
    """(site, product line, users): made on the first run; later runs keep them and reset
    the demo passwords to the printed ones."""
    site, _ = Site.objects.get_or_create(code=DEMO_SITE_CODE, defaults={"name": "Demo manufacturing plant"})
    line, _ = ProductLine.objects.get_or_create(code="OSD", defaults={"name": "Oral solid dose"})
    users = []
    for role in ROLES:
        user, created = User.objects.get_or_create(
            username=role,
            defaults={
                "first_name": role.replace("_", " ").title(),
                "last_name": "Demo",
                "email": f"{role}@demo.local",
            },
        )
        user.set_password(demo_password(role))
        user.is_staff = role in STAFF_ROLES
        user.save(reason="Demo data" if created else "Demo password reset")
        user.groups.add(Group.objects.get(name=role))
        user.sites.add(site)
        user.product_lines.add(line)
        users.append(user)
    return site, line, users
