import datetime
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from core.verification import unchained_rows, verify_all, verify_anchors


def _moment(value):
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--since: {value!r} is not a date or a date-time (ISO 8601).")
        moment = datetime.datetime.combine(day, datetime.time.min)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


class Command(BaseCommand):
    help = (
        "Recompute the audit trail's hash chains (history rows, signatures, ledger movements) and report "
        "the first broken link of each aggregate; exit 1 on any break."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="only aggregates written to since this UTC date or date-time")
        parser.add_argument(
            "--aggregate",
            action="append",
            default=[],
            help='only this aggregate, e.g. "batch_records.batchrecord:12" (repeatable)',
        )
        parser.add_argument("--anchors", action="store_true", help="also check the anchors (EBR_AUDIT_ANCHOR_DIR)")
        parser.add_argument("--anchor-dir", help="anchors in this directory instead")
        parser.add_argument("--json", dest="as_json", action="store_true", help="one JSON document on stdout")

    def handle(self, *args, since, aggregate, anchors, anchor_dir, as_json, **options):
        since = _moment(since) if since else None
        reports = verify_all(since=since, aggregates=aggregate or None)
        broken = [report for report in reports if not report.intact]
        anchor_breaks, anchor_count = [], 0
        if anchors or anchor_dir:
            anchor_breaks, anchor_count = verify_anchors(anchor_dir, aggregates=set(aggregate) or None)
        unchained = unchained_rows() if not (since or aggregate) else {}
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "aggregates": len(reports),
                        "links": sum(report.links for report in reports),
                        "broken": [report.as_dict() for report in broken],
                        "anchors_checked": anchor_count,
                        "anchor_breaks": [item.as_dict() for item in anchor_breaks],
                        "unchained_rows": unchained,
                    },
                    indent=1,
                    default=str,
                )
            )
        else:
            for report in broken:
                self.stdout.write(f"BROKEN {report.breaks[0]}")
                for key, value in report.breaks[0].details.items():
                    self.stdout.write(f"    {key}: {value}")
            for item in anchor_breaks:
                self.stdout.write(f"ANCHOR {item}")
                for key, value in item.details.items():
                    self.stdout.write(f"    {key}: {value}")
            for table, count in unchained.items():
                self.stdout.write(f"UNCHAINED {table}: {count} rows carry no link")
            self.stdout.write(
                f"{len(reports)} aggregates, {sum(r.links for r in reports)} links verified; "
                f"{len(broken)} broken"
                + (f"; {anchor_count} anchors checked, {len(anchor_breaks)} differ" if anchors or anchor_dir else "")
                + "."
            )
        if broken or anchor_breaks or unchained:
            raise CommandError("The audit trail does not verify.", returncode=1)
