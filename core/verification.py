"""Verifying the audit trail's hash chains, and anchoring their heads outside the database.

`verify_aggregate` recomputes one aggregate's chain from its rows: every link in place
(1, 2, 3 … with none missing or doubled), every hash recomputed with its key over the row as
it is now and the previous link, the last link equal to the chain head. It reports the
first broken link and what differs. `verify_all` does so for every aggregate (manage.py
verify_audit); the batch review and the release gate use it for one batch.

Anchors (manage.py audit_anchor) are files, written where the database role cannot write,
that record each chain head (its place and hash) under an HMAC. A chain rebuilt after an
anchor — even by someone holding the key — no longer has the anchored hash at the anchored
place, which `verify_anchors` reports.
"""

import datetime
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from .chain import (
    UnknownKey,
    audit_keys,
    chained_models,
    content_fields,
    keyed_hash,
    link_hash,
    root_model,
    row_content,
)
from .models import AuditChainHead, canonical_json


@dataclass
class ChainBreak:
    aggregate: str
    seq: int | None
    problem: str
    table: str = ""
    row_id: object = None
    details: dict = field(default_factory=dict)

    def as_dict(self):
        return {
            "aggregate": self.aggregate,
            "seq": self.seq,
            "problem": self.problem,
            "table": self.table,
            "row_id": self.row_id,
            "details": self.details,
        }

    def __str__(self):
        where = f" ({self.table} row {self.row_id})" if self.table else ""
        place = f"link {self.seq}" if self.seq is not None else "chain"
        return f"{self.aggregate}: {place}{where}: {self.problem}"


@dataclass
class ChainReport:
    aggregate: str
    links: int = 0
    head_seq: int = 0
    head_hash: str = ""
    breaks: list = field(default_factory=list)

    @property
    def intact(self):
        return not self.breaks

    def as_dict(self):
        return {
            "aggregate": self.aggregate,
            "intact": self.intact,
            "links": self.links,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "first_break": self.breaks[0].as_dict() if self.breaks else None,
        }


def _models_for(aggregate):
    """The audit tables that can hold links of `aggregate` (all of them for a signature)."""
    label = aggregate.rpartition(":")[0]
    models = []
    for model in chained_models():
        tracked = getattr(model, "instance_type", None)
        if tracked is None:
            history = getattr(model, "history", None)  # a membership row of a history row
            tracked = getattr(getattr(history, "field", None), "related_model", None)
            tracked = getattr(tracked, "instance_type", None)
        if tracked is None or root_model(tracked)._meta.label_lower == label:
            models.append(model)
    return models


def _rows(models, aggregates=None):
    """(aggregate, seq, model, pk, values) of every link, optionally of some aggregates."""
    rows = []
    for model in models:
        attnames = [f.attname for f in content_fields(model)]
        pk = model._meta.pk.attname
        queryset = model._base_manager.exclude(chain_aggregate="")
        if aggregates is not None:
            queryset = queryset.filter(chain_aggregate__in=aggregates)
        columns = ["chain_aggregate", "chain_seq", "chain_key_id", "chain_hash", pk, *attnames]
        for row in queryset.values_list(*columns).iterator(chunk_size=2000):
            values = dict(zip(attnames, row[5:], strict=True))
            rows.append((row[0], row[1], row[2], row[3], model, row[4], values))
    rows.sort(key=lambda row: (row[0], row[1]))
    return rows


def _check_chain(aggregate, links, head):
    """The report of one aggregate from its links (sorted by place) and its head row."""
    report = ChainReport(aggregate, links=len(links))
    if head is not None:
        report.head_seq, report.head_hash = head
    previous = ""
    expected_seq = 1
    for _, seq, key_id, stored, model, pk, values in links:
        table = model._meta.label_lower
        if seq != expected_seq:
            problem = (
                f"link {expected_seq} is missing (a row was deleted or its link removed)"
                if seq > expected_seq
                else f"two rows claim link {seq} (a row was inserted or copied)"
            )
            report.breaks.append(
                ChainBreak(
                    aggregate, expected_seq if seq > expected_seq else seq, problem, table, pk, {"found_seq": seq}
                )
            )
            return report
        try:
            recomputed = link_hash(
                key_id,
                aggregate=aggregate,
                seq=seq,
                previous=previous,
                table=table,
                content=row_content(model, values),
            )
        except UnknownKey:
            report.breaks.append(
                ChainBreak(aggregate, seq, f"key {key_id!r} is not configured (EBR_AUDIT_KEYS)", table, pk)
            )
            return report
        if not hmac.compare_digest(recomputed, stored):
            report.breaks.append(
                ChainBreak(
                    aggregate,
                    seq,
                    "the row or its place differs from what was chained (changed, inserted, reordered, "
                    "or the previous link changed)",
                    table,
                    pk,
                    {"stored_hash": stored, "recomputed_hash": recomputed, "previous_hash": previous},
                )
            )
            return report
        previous = stored
        expected_seq += 1
    if head is not None and (head[0] != len(links) or head[1] != previous):
        report.breaks.append(
            ChainBreak(
                aggregate,
                head[0],
                f"the chain ends at link {len(links)} but its head records link {head[0]} (rows cut off the end, "
                "or the head was changed)",
                details={"head_seq": head[0], "head_hash": head[1], "last_hash": previous},
            )
        )
    return report


def verify_aggregate(aggregate):
    """The ChainReport of one aggregate (e.g. "batch_records.batchrecord:12")."""
    links = _rows(_models_for(aggregate), [aggregate])
    head = AuditChainHead.objects.filter(aggregate=aggregate).values_list("seq", "hash").first()
    return _check_chain(aggregate, links, head)


def verify_record(record):
    """The report of the aggregate `record` belongs to."""
    from .chain import aggregate_of

    return verify_aggregate(aggregate_of(type(record), record))


def verify_all(*, since=None, aggregates=None):
    """ChainReports of every aggregate, or of those named, or of those written to since
    `since` (by their head's time: a quick daily check; the full run checks everything)."""
    heads = AuditChainHead.objects.all()
    if since is not None:
        heads = heads.filter(updated_at__gte=since)
    if aggregates:
        heads = heads.filter(aggregate__in=aggregates)
    head_of = {aggregate: (seq, hash_) for aggregate, seq, hash_ in heads.values_list("aggregate", "seq", "hash")}
    if since is None and not aggregates:
        rows = _rows(chained_models())
        names = set(head_of) | {row[0] for row in rows}
    else:
        names = set(head_of) if since is not None else set(aggregates)
        rows = _rows(chained_models(), sorted(names))
    by_aggregate = {}
    for row in rows:
        by_aggregate.setdefault(row[0], []).append(row)
    return [_check_chain(name, by_aggregate.get(name, []), head_of.get(name)) for name in sorted(names)]


def unchained_rows():
    """{table: count} of audit rows with no link (written before chaining, or stripped)."""
    counts = {}
    for model in chained_models():
        count = model._base_manager.filter(chain_aggregate="").count()
        if count:
            counts[model._meta.label_lower] = count
    return counts


# --- anchors ---------------------------------------------------------------------------


def _anchor_message(created_at, heads):
    return canonical_json({"created_at": created_at, "heads": heads})


def write_anchor(directory=None):
    """Write the current chain heads to a new file in `directory`
    (EBR_AUDIT_ANCHOR_DIR); returns its path."""
    directory = Path(directory or settings.EBR_AUDIT_ANCHOR_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    created_at = timezone.now().astimezone(datetime.UTC)
    heads = {
        aggregate: {"seq": seq, "hash": hash_}
        for aggregate, seq, hash_ in AuditChainHead.objects.order_by("aggregate").values_list(
            "aggregate", "seq", "hash"
        )
    }
    key_id, _ = audit_keys()
    stamp = created_at.isoformat()
    anchor = {
        "created_at": stamp,
        "key_id": key_id,
        "heads": heads,
        "signature": keyed_hash(key_id, _anchor_message(stamp, heads)),
    }
    path = directory / f"audit-anchor-{created_at:%Y%m%dT%H%M%S%fZ}.json"
    # Exclusive creation: an anchor is written once and never replaced.
    with path.open("x", encoding="utf-8") as file:
        json.dump(anchor, file, indent=1, sort_keys=True)
    return path


def verify_anchors(directory=None, *, aggregates=None):
    """ChainBreaks where the chains no longer hold what an anchor recorded: the anchored
    link missing or with another hash (a chain rebuilt or cut after the anchor). An anchor
    whose own HMAC does not match is reported too."""
    directory = Path(directory or settings.EBR_AUDIT_ANCHOR_DIR)
    breaks = []
    anchors = sorted(directory.glob("audit-anchor-*.json")) if directory.is_dir() else []
    wanted = {}
    for path in anchors:
        anchor = json.loads(path.read_text(encoding="utf-8"))
        try:
            expected = keyed_hash(anchor["key_id"], _anchor_message(anchor["created_at"], anchor["heads"]))
        except UnknownKey:
            expected = None
        if expected is None or not hmac.compare_digest(expected, anchor.get("signature", "")):
            breaks.append(ChainBreak("*", None, f"anchor {path.name} is not signed by a configured key"))
            continue
        for aggregate, head in anchor["heads"].items():
            if aggregates and aggregate not in aggregates:
                continue
            if head["seq"]:
                wanted.setdefault(aggregate, []).append((head["seq"], head["hash"], path.name))
    if not wanted:
        return breaks, len(anchors)
    found = {}
    for aggregate, seq, _key_id, stored, model, pk, _values in _rows(chained_models(), sorted(wanted)):
        found[(aggregate, seq)] = (stored, model._meta.label_lower, pk)
    for aggregate, points in sorted(wanted.items()):
        for seq, anchored, name in points:
            stored = found.get((aggregate, seq))
            if stored is None:
                problem = f"link {seq}, anchored in {name}, is missing"
                breaks.append(ChainBreak(aggregate, seq, problem, details={"anchored_hash": anchored}))
                break
            if not hmac.compare_digest(stored[0], anchored):
                breaks.append(
                    ChainBreak(
                        aggregate,
                        seq,
                        f"link {seq} differs from the hash anchored in {name} (the chain was rebuilt)",
                        stored[1],
                        stored[2],
                        {"anchored_hash": anchored, "stored_hash": stored[0]},
                    )
                )
                break
    return breaks, len(anchors)
