"""Deliver the outbox: domain events to NATS JetStream and to the registered webhooks.

    manage.py relay_events            # runs until stopped (SIGINT/SIGTERM)
    manage.py relay_events --once     # one pass, then exits (cron, tests)
    manage.py relay_events --no-nats  # webhooks only

Safe to run several at once (rows are locked with SKIP LOCKED) and to kill at any moment:
what was not marked delivered is sent again by the next pass.
"""

import contextlib
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from events.relay import JetStreamPublisher, RelayUnavailable, relay_once


class Command(BaseCommand):
    help = "Deliver committed domain events to NATS JetStream and to webhooks (at least once)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")
        parser.add_argument("--no-nats", action="store_true", help="Deliver webhooks only.")
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.EBR_RELAY_POLL_SECONDS,
            help="Seconds between passes when there is nothing to send.",
        )
        parser.add_argument("--batch-size", type=int, default=100)

    def handle(self, *args, once=False, no_nats=False, interval=1.0, batch_size=100, **options):
        self.stopping = False
        if not once:
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
        publisher, retry_at = None, 0.0
        try:
            while not self.stopping:
                if not no_nats and publisher is None and time.monotonic() >= retry_at:
                    publisher, retry_at = self._connect(retry_at)
                try:
                    counts = relay_once(publisher, batch_size=batch_size)
                except RelayUnavailable as error:
                    self.stderr.write(f"NATS unavailable ({error}); reconnecting")
                    publisher = self._close(publisher)
                    counts = {}
                if options["verbosity"] > 1 and any(counts.values()):
                    self.stdout.write(", ".join(f"{name}: {number}" for name, number in counts.items()))
                if once:
                    break
                if not any(counts.values()):
                    time.sleep(interval)
        finally:
            self._close(publisher)

    def _connect(self, retry_at):
        publisher = JetStreamPublisher()
        try:
            publisher.connect()
        except Exception as error:  # NATS down: webhooks still go out, NATS is retried
            self._close(publisher)
            self.stderr.write(f"Cannot connect to NATS at {settings.EBR_NATS_URL}: {error}; retrying in 10 s")
            return None, time.monotonic() + 10
        self.stdout.write(f"Publishing to NATS JetStream stream {publisher.stream} at {settings.EBR_NATS_URL}")
        return publisher, retry_at

    def _close(self, publisher):
        if publisher is not None:
            # Closing a broken connection: nothing is left to save, whatever fails.
            with contextlib.suppress(Exception):
                publisher.close()
        return None

    def _stop(self, signum, frame):
        self.stopping = True
