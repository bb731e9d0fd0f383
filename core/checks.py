"""Deployment checks of the kernel (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from .chain import audit_keys


@register(Tags.security, deploy=True)
def audit_keys_are_set(app_configs, **kwargs):
    """Production needs its own audit keys: with the public development key anyone can
    recompute the chain and the signature hashes."""
    try:
        _, keys = audit_keys()
    except Exception as error:  # noqa: BLE001 - reported as the check's finding
        return [Error(f"EBR_AUDIT_KEYS is not valid: {error}", id="core.E001")]
    if settings.EBR_AUDIT_KEYS == settings.EBR_AUDIT_DEVELOPMENT_KEYS:
        return [
            Warning(
                "EBR_AUDIT_KEYS is the public development key.",
                hint="Set EBR_AUDIT_KEYS=kid:<long random secret> (see docs/audit-trail.md).",
                id="core.W001",
            )
        ]
    if any(len(secret) < 32 for secret in keys.values()):
        return [Warning("An EBR_AUDIT_KEYS secret is shorter than 32 characters.", id="core.W002")]
    return []
