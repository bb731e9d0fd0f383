"""Who may do what with production orders (SPEC §7). Supervisors plan batches, so they
place, change, close and cancel orders and create their batches; everyone reads them."""

from users.roles import ROLES, VERIFIER

_read = ["orders.view_productionorder", "orders.view_orderbatch"]

ROLE_PERMISSIONS = {
    **{role: list(_read) for role in ROLES},
    VERIFIER: [
        *_read,
        "orders.add_productionorder",
        "orders.change_productionorder",
        "orders.plan_batch_productionorder",
        "orders.close_productionorder",
        "orders.cancel_productionorder",
    ],
}
