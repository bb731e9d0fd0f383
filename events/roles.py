"""Who may read the events feed and manage webhooks (SPEC §7).

Every role reads the events of its own sites. Webhooks send records out of the system:
only records administrators register them, see their deliveries and re-deliver.
"""

from users.roles import RECORDS_ADMIN, ROLES

_feed = ["events.view_domainevent"]

ROLE_PERMISSIONS = {
    **{role: list(_feed) for role in ROLES},
    RECORDS_ADMIN: [
        *_feed,
        "events.view_webhook",
        "events.add_webhook",
        "events.change_webhook",
        "events.view_webhookdelivery",
        "events.redeliver_webhookdelivery",
    ],
}
