"""Which saves raise which domain events, declared once per record type.

An app declares, in its own `domain_events.py`, the events its records raise:

    declare(RecordEvents(
        BatchRecord, aggregate="batch_record", domain="production", identifier="batch_id",
        created="BATCH_CREATED",
        statuses={BatchStatus.IN_PROGRESS: "BATCH_STARTED", BatchStatus.COMPLETED: "BATCH_COMPLETED"},
        payload=batch_payload,
    ))

The declaration is executed by a save hook: every save of the record (whatever service made
it) that creates it, moves it into a declared status or first sets a declared field writes
the event row inside the save's own transaction. Records change only through audited saves
(bulk writes are refused), so no transition can skip its event. An app above the record's
app adds to a payload with `contribute` (the order of a batch, the serials of a batch)
without the record's app knowing it.
"""

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_init, post_save


@dataclass(frozen=True)
class EventType:
    name: str
    domain: str  # the last part of the subject: progress.notification.<domain>
    aggregate: str


@dataclass(frozen=True)
class RecordEvents:
    model: type
    aggregate: str
    domain: str
    payload: Callable  # record -> dict (JSON-ready: decimals as strings)
    # The attribute shown as aggregate_id (BR-0001 rather than 17), or record -> str.
    identifier: str | Callable = "pk"
    created: str | None = None
    statuses: Mapping = field(default_factory=dict)  # status entered -> event type
    fields_set: Mapping = field(default_factory=dict)  # attname first set -> event type
    status_field: str = "status"
    site: Callable = lambda record: record.site_id

    @property
    def watched(self):
        return (self.status_field, *self.fields_set)

    def aggregate_id(self, record):
        if callable(self.identifier):
            return str(self.identifier(record))
        return str(getattr(record, self.identifier))

    def event_types(self):
        names = [self.created, *self.statuses.values(), *self.fields_set.values()]
        return [name for name in names if name]

    def raised_by(self, created, before, now):
        """The event types of a save, from the watched values as loaded and as saved."""
        if created:
            return [self.created] if self.created else []
        if before is None:  # loaded without its watched fields: nothing is known to have changed
            return []
        raised = []
        status_before, status_now = before.get(self.status_field), now.get(self.status_field)
        if status_before is not None and status_now != status_before and status_now in self.statuses:
            raised.append(self.statuses[status_now])
        for attname, event_type in self.fields_set.items():
            if before.get(attname) in (None, "") and now.get(attname) not in (None, ""):
                raised.append(event_type)
        return raised


EVENT_TYPES = {}
_declarations = {}
_contributors = defaultdict(list)
_LOADED = "_events_loaded_values"


def declare_type(name, *, domain, aggregate):
    """An event type recorded by a service with `record_event` rather than by a save hook."""
    known = EVENT_TYPES.get(name)
    if known is not None and (known.domain, known.aggregate) != (domain, aggregate):
        raise ImproperlyConfigured(f"Event type {name} is declared twice, differently.")
    EVENT_TYPES[name] = EventType(name, domain, aggregate)


def declare(declaration):
    if declaration.model in _declarations:
        raise ImproperlyConfigured(f"The events of {declaration.model.__name__} are declared twice.")
    for name in declaration.event_types():
        declare_type(name, domain=declaration.domain, aggregate=declaration.aggregate)
    _declarations[declaration.model] = declaration
    label = declaration.model._meta.label_lower
    post_init.connect(_remember_loaded_values, sender=declaration.model, dispatch_uid=f"events_loaded_{label}")
    post_save.connect(_raise_events, sender=declaration.model, dispatch_uid=f"events_saved_{label}")


def contribute(event_types, contributor):
    """Add `contributor(record) -> dict` to the payload of each of `event_types`."""
    for name in event_types:
        _contributors[name].append(contributor)


def known_event_types():
    return sorted(EVENT_TYPES)


def _watched_values(declaration, record):
    # Read from __dict__: a deferred field must not cost a query on every load.
    return {name: record.__dict__.get(name) for name in declaration.watched}


def _remember_loaded_values(sender, instance, **kwargs):
    setattr(instance, _LOADED, _watched_values(_declarations[sender], instance))


def _raise_events(sender, instance, created, raw=False, **kwargs):
    if raw:  # fixtures load rows, nothing happens
        return
    declaration = _declarations[sender]
    now = _watched_values(declaration, instance)
    before = getattr(instance, _LOADED, None)
    setattr(instance, _LOADED, now)
    raised = declaration.raised_by(created, before, now)
    if not raised:
        return
    from .services import record_event

    actor = getattr(instance, "created_by" if created else "updated_by", None)
    for event_type in raised:
        payload = declaration.payload(instance)
        for contributor in _contributors[event_type]:
            payload.update(contributor(instance))
        record_event(
            event_type,
            aggregate_id=declaration.aggregate_id(instance),
            site_id=declaration.site(instance),
            actor=actor,
            payload=payload,
        )
