from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from simple_history.models import HistoricalRecords

from core.exceptions import Conflict
from core.models import AuditChainFields, AuditedModel, AuditedQuerySet, AuditStampedModel, SignableModel


class Site(AuditedModel):
    """A manufacturing site; users see and act on the records of their own sites only."""

    site_lookup = "pk"

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} — {self.name}"


class ProductLine(AuditedModel):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} — {self.name}"


class UserManager(DjangoUserManager.from_queryset(AuditedQuerySet)):
    pass


class User(AbstractUser, AuditStampedModel, SignableModel):
    """The custom user. Users are deactivated, never deleted: their signatures and history
    must keep pointing at them."""

    # An account unlock is signed on the account (users.services.unlock_account).
    signed_fields = ("username", "is_active")

    sites = models.ManyToManyField(Site, blank=True, related_name="users")
    product_lines = models.ManyToManyField(ProductLine, blank=True, related_name="users")

    objects = UserManager()
    # Group and site membership is part of the trail: who held which authority when.
    history = HistoricalRecords(
        m2m_fields=["groups", "sites"],
        excluded_fields=["last_login"],
        bases=[AuditChainFields],
        m2m_bases=[AuditChainFields],
    )

    class Meta:
        ordering = ["username"]
        permissions = [("unlock_user", "Can unlock an account locked after failed attempts")]

    def __str__(self):
        return self.get_username()

    def delete(self, *args, **kwargs):
        raise Conflict("Users are never deleted; deactivate the account instead.")

    @property
    def role_names(self):
        return sorted(group.name for group in self.groups.all())
